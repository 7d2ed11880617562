/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recovery: what sl_log_open() does before the log takes appends.
 *
 * For every segment, oldest first: check the header; load the index files
 * and keep their valid prefix; verify the last index point against the
 * batch it names; scan from there to the end of the data. An unsealed
 * segment (the writer crashed) ends at its first invalid batch: the torn
 * tail is cut (the partial block zeroed, the file truncated) and the segment
 * is sealed. A sealed segment that holds an invalid batch before its sealed
 * end is corrupt there: the range is reported, the scan resumes at the next
 * valid batch, and nothing is cut. Missing or damaged index files are
 * rebuilt by a full scan; index points past the last one are appended.
 *
 * Nothing read from disk is trusted: every length and offset is checked
 * against the file before use, and a failed check is a report, never an
 * abort.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler.h"
#include "err.h"
#include "internal.h"

/* An index file larger than this is not one sluice wrote. */
#define MAX_INDEX_FILE_BYTES (256u << 20)

/* Reads the whole entries of an index file; *ret_partial is set when the
 * file ends in a partial entry. */
static int load_file(int dirfd, uint64_t base_seq, const char *ext, size_t esize, void **ret,
                     uint32_t *ret_n, bool *ret_partial)
{
	char name[SL_SEG_NAME_MAX];
	struct stat stt;
	void *buf = NULL;
	int fd, r = 0;

	*ret = NULL;
	*ret_n = 0;
	*ret_partial = false;
	sl_seg_name(name, base_seq, ext);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &stt) < 0) {
		r = -errno;
		goto out;
	}
	if ((uint64_t)stt.st_size > MAX_INDEX_FILE_BYTES) {
		r = -EFBIG;
		goto out;
	}
	*ret_n = (uint32_t)((uint64_t)stt.st_size / esize);
	*ret_partial = (uint64_t)stt.st_size % esize != 0;
	if (*ret_n == 0)
		goto out;
	buf = malloc((size_t)*ret_n * esize);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	r = sl_pread_full(fd, buf, (size_t)*ret_n * esize, 0);
	if (r < 0) {
		free(buf);
		buf = NULL;
		*ret_n = 0;
		goto out;
	}
	*ret = buf;
out:
	close(fd);
	return r;
}

/* Both loaders return how many entries (or a partial one) failed their
 * checks, and keep the valid prefix in *ret / *ret_n. */
int sl_index_load_idx(int dirfd, uint64_t base_seq, struct sl_idx_entry **ret, uint32_t *ret_n)
{
	struct sl_idx_entry *e;
	uint32_t total, n;
	bool partial;
	int r = load_file(dirfd, base_seq, "idx", sizeof(*e), (void **)&e, &total, &partial);

	if (r < 0)
		return r;
	for (n = 0; n < total; n++) {
		if (sl_idx_entry_crc(&e[n]) != e[n].entry_crc || e[n].offset < SL_SEG_HDR_BYTES ||
		    e[n].offset % 8 != 0)
			break;
		if (n > 0 && (e[n].rel_seq <= e[n - 1].rel_seq || e[n].offset <= e[n - 1].offset))
			break;
	}
	*ret = e;
	*ret_n = n;
	return (int)(total - n) + partial;
}

int sl_index_load_tix(int dirfd, uint64_t base_seq, struct sl_tix_entry **ret, uint32_t *ret_n)
{
	struct sl_tix_entry *e;
	uint32_t total, n;
	bool partial;
	int r = load_file(dirfd, base_seq, "tix", sizeof(*e), (void **)&e, &total, &partial);

	if (r < 0)
		return r;
	for (n = 0; n < total; n++) {
		if (sl_tix_entry_crc(&e[n]) != e[n].entry_crc || e[n].offset < SL_SEG_HDR_BYTES ||
		    e[n].offset % 8 != 0)
			break;
		if (n > 0 && (e[n].rel_seq <= e[n - 1].rel_seq || e[n].offset <= e[n - 1].offset ||
		              e[n].ts_ns < e[n - 1].ts_ns))
			break;
	}
	*ret = e;
	*ret_n = n;
	return (int)(total - n) + partial;
}

struct scan {
	struct sl_idx_entry *idx;
	struct sl_tix_entry *tix;
	uint32_t n, cap;
};

static int scan_push(struct scan *sc, uint64_t base_seq, uint64_t off, const struct sl_batch_hdr *h)
{
	if (sc->n == sc->cap) {
		uint32_t cap = sc->cap ? sc->cap * 2 : 64;
		struct sl_idx_entry *i = realloc(sc->idx, cap * sizeof(*i));
		struct sl_tix_entry *t;

		if (!i)
			return -ENOMEM;
		sc->idx = i;
		t = realloc(sc->tix, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		sc->tix = t;
		sc->cap = cap;
	}
	struct sl_idx_entry *e = &sc->idx[sc->n];
	struct sl_tix_entry *t = &sc->tix[sc->n];

	e->rel_seq = (uint32_t)(h->base_seq - base_seq);
	e->offset = (uint32_t)off;
	e->batch_crc = h->crc;
	e->entry_crc = sl_idx_entry_crc(e);
	t->ts_ns = h->first_ts_ns;
	t->rel_seq = e->rel_seq;
	t->offset = e->offset;
	t->batch_crc = h->crc;
	t->entry_crc = sl_tix_entry_crc(t);
	sc->n++;
	return 0;
}

static int write_index(int dirfd, uint64_t base_seq, const struct scan *sc, uint32_t from)
{
	char name[SL_SEG_NAME_MAX];
	const char *ext[2] = {"idx", "tix"};
	const void *src[2] = {sc->idx, sc->tix};
	size_t esz[2] = {sizeof(*sc->idx), sizeof(*sc->tix)};
	int ret = 0;

	for (int i = 0; i < 2; i++) {
		int fd;

		sl_seg_name(name, base_seq, ext[i]);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)from * (off_t)esz[i]) < 0 ||
		    (sc->n > from &&
		     pwrite(fd, (const char *)src[i] + from * esz[i], (sc->n - from) * esz[i],
		            (off_t)from * (off_t)esz[i]) != (ssize_t)((sc->n - from) * esz[i])))
			ret = -EIO;
		close(fd);
	}
	return ret;
}

/* Finds the last index point that verifies against its batch. Returns its
 * position in sc (entries after it are dropped), or -1 if none does. */
static int last_verified(int fd, uint64_t base_seq, uint64_t room_end, struct scan *sc,
                         uint8_t **buf, size_t *cap)
{
	for (int k = (int)sc->n - 1, tries = 0; k >= 0 && tries < 8; k--, tries++) {
		struct sl_batch_hdr h;
		const struct sl_idx_entry *e = &sc->idx[k];

		if (e->offset < room_end &&
		    sl_seg_read_batch(fd, e->offset, room_end - e->offset, base_seq + e->rel_seq,
		                      buf, cap, &h) == 0 &&
		    h.crc == e->batch_crc) {
			sc->n = (uint32_t)k + 1;
			return k;
		}
	}
	sc->n = 0;
	return -1;
}

static void note_corruption(struct sl_log_report *rep, uint64_t first, uint64_t last)
{
	rep->corrupt_batches++;
	if (rep->corrupt_first_seq == 0 || first < rep->corrupt_first_seq)
		rep->corrupt_first_seq = first;
	rep->corrupt_last_seq = SL_MAX(rep->corrupt_last_seq, last);
}

/* Cuts an unsealed segment after its last valid batch and seals it. */
static int cut_and_seal(int fd, uint64_t base_seq, uint64_t end, uint64_t capacity,
                        uint32_t shard_id, int64_t first_ts)
{
	static const uint8_t zeros[SL_BLOCK];
	uint64_t blk_end = sl_align_up(end, SL_BLOCK);
	struct sl_seg_hdr h;

	if (blk_end > end && pwrite(fd, zeros, blk_end - end, (off_t)end) < 0)
		return -errno;
	if (ftruncate(fd, (off_t)blk_end) < 0 || fdatasync(fd) < 0)
		return -errno;
	memset(&h, 0, sizeof(h));
	h.magic = SL_SEG_MAGIC;
	h.version = SL_FORMAT_VERSION;
	h.base_seq = base_seq;
	h.capacity = capacity;
	h.shard_id = shard_id;
	h.state = SL_SEG_SEALED;
	h.end_offset = end;
	h.create_ns = first_ts == INT64_MIN ? 0 : first_ts;
	h.hdr_crc = sl_seg_hdr_crc(&h);
	if (sl_seg_hdr_write(fd, &h) < 0 || fdatasync(fd) < 0)
		return -EIO;
	return 0;
}

/*
 * Whether an index entry of the segment names a valid batch after offset
 * off. Index entries are written only for durable batches, so such an entry
 * proves that an invalid batch at off was durable too: corruption, not a
 * torn tail. Returns the entry's offset, or 0.
 */
static uint64_t durable_evidence_after(int dirfd, int fd, uint64_t base_seq, uint64_t off,
                                       uint64_t room_end, uint8_t **buf, size_t *cap)
{
	struct sl_idx_entry *e = NULL;
	uint64_t found = 0;
	uint32_t n = 0;

	sl_index_load_idx(dirfd, base_seq, &e, &n);
	for (uint32_t k = n; k-- > 0 && e[k].offset > off;) {
		struct sl_batch_hdr h;

		if (e[k].offset < room_end &&
		    sl_seg_read_batch(fd, e[k].offset, room_end - e[k].offset,
		                      base_seq + e[k].rel_seq, buf, cap, &h) == 0 &&
		    h.crc == e[k].batch_crc) {
			found = e[k].offset;
			break;
		}
	}
	free(e);
	return found;
}

/* next_base is the base of the following segment, or 0 for the last. */
static int recover_segment(struct sl_log *log, uint64_t base_seq, uint64_t next_base,
                           bool may_be_torn, struct sl_log_report *rep, struct segdesc *ret)
{
	const uint32_t interval = log->st->cfg.index_interval_bytes;
	char name[SL_SEG_NAME_MAX];
	struct sl_seg_hdr hdr;
	struct stat stt;
	struct scan sc = {0};
	struct sl_tix_entry *tix = NULL;
	uint32_t tix_n = 0, kept, loaded;
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t off, expect, end_limit, size, last_index_off, seq_limit, durable_end = 0;
	int64_t first_ts = INT64_MIN, last_ts = INT64_MIN;
	bool sealed, end_known, hdr_ok, rebuild = false, torn = false;
	uint32_t corrupt_before = rep->corrupt_batches;
	int fd, bad, r;

	sl_seg_name(name, base_seq, "log");
	fd = openat(log->dirfd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return sl_err_set(-errno, "cannot open segment %s/%s", log->dir, name);
	/* A segment the last writer may still have had writes in flight to:
	 * wait until they are all done, or the scan and the cut below would
	 * race with them (and the page cache with direct I/O). */
	if (may_be_torn && (r = sl_seg_lock_writer(fd, 30000)) < 0) {
		sl_err_set(r, "segment %s/%s is still locked by its writer", log->dir, name);
		close(fd);
		return r;
	}
	if (fstat(fd, &stt) < 0) {
		r = -errno;
		goto out;
	}
	size = (uint64_t)stt.st_size;
	r = sl_seg_hdr_read(fd, &hdr);
	if (r < 0 && r != -EBADMSG)
		goto out;
	hdr_ok = r == 0 && hdr.base_seq == base_seq;
	if (!hdr_ok) {
		rep->bad_headers++;
		memset(&hdr, 0, sizeof(hdr));
		sealed = false;
	} else {
		/* A header whose CRC checks is believed: if the file is shorter
		 * than its sealed end, the data in between is lost and
		 * reported as corruption, not mistaken for a torn tail. */
		sealed = hdr.state == SL_SEG_SEALED && hdr.end_offset >= SL_SEG_HDR_BYTES &&
		         hdr.end_offset % 8 == 0;
	}
	/* A segment that is not among the last two was sealed by a roll that
	 * completed; only a crash leaves the newest ones unsealed. */
	end_known = sealed;
	if (!sealed && !may_be_torn) {
		sealed = true;
		hdr.end_offset = size;
	}
	end_limit = sealed ? SL_MIN(hdr.end_offset, size) : size;
	/* Sequence numbers of this segment stay in its epoch and below the next
	 * segment's base: a batch found by resync must too. */
	seq_limit = sl_seq_first_of_epoch(sl_seq_epoch(base_seq) + 1);
	if (next_base > base_seq && next_base < seq_limit)
		seq_limit = next_base;
	r = 0;

	/* Index: keep the valid prefix, then the last point that verifies. */
	bad = sl_index_load_idx(log->dirfd, base_seq, &sc.idx, &sc.n);
	if (bad < 0) {
		rebuild = true; /* missing or unreadable */
		sc.n = 0;
	} else if (bad > 0) {
		rebuild = true;
	}
	sc.cap = sc.n;
	if (sl_index_load_tix(log->dirfd, base_seq, &tix, &tix_n) != 0 || tix_n != sc.n)
		rebuild = true;
	if (rebuild) {
		sc.n = 0; /* rescan the whole segment */
	} else if (sc.n > 0) {
		/* The tix entries must name the same batches as the idx ones. */
		sc.tix = tix;
		tix = NULL;
		for (uint32_t i = 0; i < sc.n; i++)
			if (sc.tix[i].rel_seq != sc.idx[i].rel_seq ||
			    sc.tix[i].offset != sc.idx[i].offset)
				rebuild = true;
		if (rebuild)
			sc.n = 0;
		else if (last_verified(fd, base_seq, end_limit, &sc, &buf, &cap) < 0 ||
		         sc.n < tix_n)
			rebuild = true;
	}
	kept = sc.n;
	loaded = kept;
	if (kept > 0) {
		off = sc.idx[kept - 1].offset;
		expect = base_seq + sc.idx[kept - 1].rel_seq;
		last_index_off = off;
		sc.n--; /* the scan re-adds the verified entry */
		first_ts = sc.tix[0].ts_ns;
	} else {
		off = SL_SEG_HDR_BYTES;
		expect = base_seq;
		last_index_off = 0;
	}
	kept = sc.n;
	if (!sc.tix && sc.cap > 0) {
		sc.tix = calloc(sc.cap, sizeof(*sc.tix));
		if (!sc.tix) {
			r = -ENOMEM;
			goto out;
		}
	}

	for (;;) {
		struct sl_batch_hdr h;

		r = off < end_limit
		            ? sl_seg_read_batch(fd, off, end_limit - off, expect, &buf, &cap, &h)
		            : -ENODATA;
		if (r == 0) {
			if (first_ts == INT64_MIN)
				first_ts = h.first_ts_ns;
			if (last_index_off == 0 || off - last_index_off >= interval ||
			    off == last_index_off) {
				r = scan_push(&sc, base_seq, off, &h);
				if (r < 0)
					goto out;
				last_index_off = off;
			}
			last_ts = h.last_ts_ns;
			expect = h.base_seq + h.count;
			off += h.length;
			rep->batches++;
			continue;
		}
		if (r != -EBADMSG && r != -ENODATA)
			goto out;
		/* An invalid batch in unsealed data is a torn tail unless an
		 * index point after it proves it durable: then it is
		 * corruption, skipped, and the scan goes on (a torn tail may
		 * still follow, and is cut as usual). */
		if (!sealed && r == -EBADMSG && off >= durable_end)
			durable_end = durable_evidence_after(log->dirfd, fd, base_seq, off,
			                                     end_limit, &buf, &cap);
		if (!sealed && r == -EBADMSG && off < durable_end) {
			uint64_t noff;
			struct sl_batch_hdr nh;

			if (sl_seg_resync(fd, off + 8, end_limit, expect + 1, seq_limit, &noff,
			                  &nh) == 0) {
				note_corruption(rep, expect, nh.base_seq - 1);
				off = noff;
				expect = nh.base_seq;
				continue;
			}
		}
		if (sealed && off < end_limit && (end_known || r == -EBADMSG)) {
			/* Corruption inside sealed data: report, skip to the
			 * next valid batch. */
			uint64_t noff;
			struct sl_batch_hdr nh;

			r = sl_seg_resync(fd, off + 8, end_limit, expect + 1, seq_limit, &noff,
			                  &nh);
			if (r == 0) {
				note_corruption(rep, expect, nh.base_seq - 1);
				off = noff;
				expect = nh.base_seq;
				continue;
			}
			note_corruption(rep, expect, next_base > expect ? next_base - 1 : expect);
			end_limit = off;
		} else if (end_known && off < hdr.end_offset) {
			/* The file ends before its sealed end. */
			note_corruption(rep, expect, next_base > expect ? next_base - 1 : expect);
		}
		torn = !sealed && r == -EBADMSG;
		/* In a reused spare, the block after data that ended on a block
		 * boundary holds the old segment's bytes: that is reported as a
		 * torn tail too. Cutting there is right either way. */
		r = 0;
		break;
	}
	if (!sealed) {
		if (torn) {
			rep->torn_segments++;
			rep->torn_offset = off;
		}
		r = cut_and_seal(fd, base_seq, off, hdr_ok ? hdr.capacity : size, log->shard_id,
		                 first_ts);
		if (r < 0) {
			sl_err_set(r, "cannot cut the torn tail of %s/%s", log->dir, name);
			goto out;
		}
		end_limit = off;
		size = sl_align_up(off, SL_BLOCK);
	} else if (first_ts != INT64_MIN) {
		/* Empty segments are deleted after the open; they count in
		 * neither segments nor sealed then. */
		rep->sealed++;
	}
	/* Index files that held nothing although the segment has batches were
	 * lost too (a crash before the first index write also looks so). */
	if (!rebuild && loaded == 0 && sc.n > 0)
		rebuild = true;
	if (rebuild || sc.n > kept) {
		if (rebuild)
			rep->index_rebuilt++;
		/* Best effort: a reader that finds the index short scans on. */
		(void)write_index(log->dirfd, base_seq, &sc, rebuild ? 0 : kept);
	}
	rep->segments++;
	rep->bytes += off - SL_SEG_HDR_BYTES;
	*ret = (struct segdesc){
	        .base_seq = base_seq,
	        .next_seq = expect,
	        .first_ts = first_ts,
	        .last_ts = last_ts,
	        .end_offset = off,
	        .file_bytes = size,
	        .sealed = true,
	        .damaged = rep->corrupt_batches > corrupt_before,
	};
	if (first_ts == INT64_MIN)
		ret->next_seq = base_seq;
out:
	close(fd);
	free(buf);
	free(sc.idx);
	free(sc.tix);
	free(tix);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int sl_recover(struct sl_log *log, struct sl_log_report *rep, uint64_t *ret_next_epoch)
{
	uint64_t *bases = NULL, max_epoch = 0, idx_bases[256];
	unsigned n = 0, cap = 0, nidx = 0;
	struct dirent *de;
	DIR *d;
	int dfd, r = 0;

	dfd = fcntl(log->dirfd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		uint64_t base;

		/* Spares left by retention: reused by later rolls. */
		if (strncmp(de->d_name, "spare-", 6) == 0 &&
		    sl_seg_name_parse(de->d_name + 6, &base)) {
			if (log->nspares < SL_MIN(log->st->cfg.spare_segments, SL_SPARES_MAX))
				log->spares[log->nspares++] = base;
			else
				unlinkat(log->dirfd, de->d_name, 0);
			continue;
		}
		if (strlen(de->d_name) == 24 && (strcmp(de->d_name + 20, ".idx") == 0 ||
		                                 strcmp(de->d_name + 20, ".tix") == 0)) {
			char as_log[SL_SEG_NAME_MAX];

			memcpy(as_log, de->d_name, 20);
			strcpy(as_log + 20, ".log");
			if (sl_seg_name_parse(as_log, &base) && nidx < SL_ARRAY_SIZE(idx_bases))
				idx_bases[nidx++] = base;
			continue;
		}
		if (!sl_seg_name_parse(de->d_name, &base))
			continue;
		if (n == cap) {
			uint64_t *nb;

			cap = cap ? cap * 2 : 64;
			nb = realloc(bases, cap * sizeof(*nb));
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			bases = nb;
		}
		bases[n++] = base;
	}
	if (n > 0)
		qsort(bases, n, sizeof(*bases), cmp_u64);
	/* Index files whose segment is gone (a crash inside a removal). */
	for (unsigned i = 0; i < nidx; i++) {
		if (n > 0 && bsearch(&idx_bases[i], bases, n, sizeof(*bases), cmp_u64))
			continue;
		char name[SL_SEG_NAME_MAX];

		sl_seg_name(name, idx_bases[i], "idx");
		unlinkat(log->dirfd, name, 0);
		sl_seg_name(name, idx_bases[i], "tix");
		unlinkat(log->dirfd, name, 0);
	}
	log->last_ts = INT64_MIN;
	for (unsigned i = 0; i < n; i++) {
		struct segdesc sd;

		r = recover_segment(log, bases[i], i + 1 < n ? bases[i + 1] : 0, i + 2 >= n, rep,
		                    &sd);
		if (r < 0)
			goto out;
		/* Sequence numbers must grow from one segment to the next; a
		 * segment claiming more than the next one's base is corrupt at
		 * its end. */
		if (i + 1 < n && sd.next_seq > bases[i + 1]) {
			note_corruption(rep, bases[i + 1], sd.next_seq - 1);
			sd.next_seq = bases[i + 1];
		}
		max_epoch = SL_MAX(max_epoch, sl_seq_epoch(bases[i]));
		if (sd.next_seq > bases[i])
			max_epoch = SL_MAX(max_epoch, sl_seq_epoch(sd.next_seq - 1));
		if (sd.first_ts != INT64_MIN) {
			if (rep->first_seq == 0)
				rep->first_seq = bases[i];
			rep->last_seq = sd.next_seq - 1;
			log->last_ts = SL_MAX(log->last_ts, sd.last_ts);
		}
		r = sl_log_segs_push(log, &sd);
		if (r < 0)
			goto out;
	}
	*ret_next_epoch = max_epoch + 1;
out:
	closedir(d);
	free(bases);
	return r;
}
