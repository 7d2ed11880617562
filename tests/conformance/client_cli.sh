#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/conformance/client_cli.sh v1|v2: the main path and the error cases
# with the real aws CLI against SLUICE_CONF_ENDPOINT (default
# http://127.0.0.1:4567), SLUICE_CONF_TARGET sluiced (default) or kinesalite.
#
#   v1: `aws` on PATH, aws-cli/1.x (pip; its own botocore)
#   v2: /usr/bin/aws, aws-cli/2.x (Debian's awscli 2.9, a bundled botocore)
#
# Each case prints `ok`, `FAIL` or `skip` and its name; the last line is
# `N passed, N failed, N skipped`. Exit 0 all passed, 1 something failed,
# 77 this CLI is not installed. A case runs in a subshell with `set -e`:
# its first failing step ends it, with the reason. State that later cases
# need goes through files in $T.
#
# The CLI waiters poll every 10 s (not configurable from the command line),
# so each wait first polls DescribeStreamSummary itself every 0.2 s, then
# runs the waiter, which then answers on its first call: the waiter's
# parsing is tested without the 10 s sleeps.
set -uo pipefail

ver=${1:-}
case $ver in
v1) bin=$(command -v aws || true) ;;
v2) bin=/usr/bin/aws ;;
*) echo "usage: $0 v1|v2" >&2; exit 2 ;;
esac
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
	echo "skip: no aws CLI $ver (${bin:-aws not on PATH})" >&2
	exit 77
fi
version=$("$bin" --version 2>&1 | head -n 1)
case $version in
aws-cli/${ver#v}.*) ;;
*) echo "skip: $bin is '$version', not CLI $ver" >&2; exit 77 ;;
esac
for tool in jq python3; do
	command -v $tool >/dev/null || { echo "skip: $tool not found" >&2; exit 77; }
done

EP=${SLUICE_CONF_ENDPOINT:-http://127.0.0.1:4567}
TARGET=${SLUICE_CONF_TARGET:-sluiced}
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-conf-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT

# The host's AWS setup takes no part: dummy credentials, one attempt, config
# files in our own directory.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL \
	AWS_ENDPOINT_URL_KINESIS AWS_CA_BUNDLE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE \
	AWS_USE_FIPS_ENDPOINT AWS_USE_DUALSTACK_ENDPOINT AWS_RETRY_MODE AWS_REGION \
	AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CLI_AUTO_PROMPT
: >"$T/config"
: >"$T/credentials"
export AWS_ACCESS_KEY_ID=AKIDSLUICECONFORMANCE AWS_SECRET_ACCESS_KEY=conformance-secret \
	AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1 AWS_PAGER= \
	AWS_CONFIG_FILE=$T/config AWS_SHARED_CREDENTIALS_FILE=$T/credentials \
	AWS_EC2_METADATA_DISABLED=true

# v2 takes blobs as base64 unless told otherwise; v1 always takes them raw.
# A service error exits 254 in v2, 255 in v1 (research 1.5).
if [ "$ver" = v2 ]; then
	binfmt=(--cli-binary-format raw-in-base64-out)
	svc_rc=254
else
	binfmt=()
	svc_rc=255
fi

S=conf-cli$ver-$$
HASH_MAX=340282366920938463463374607431768211455
HALF=170141183460469231731687303715884105728
Q=85070591730234615865843651857942052864 # 2^126

aws_() { timeout 60 "$bin" --endpoint-url "$EP" --output json "${binfmt[@]}" kinesis "$@"; }

fail() {
	echo "$*" >&2
	exit 1
}

# want GOT WANT WHAT
want() {
	[ "$1" = "$2" ] || fail "$3: want '$2', got '$1'"
}

sid() { printf 'shardId-%012d' "$1"; }

# wait_status NAME STATUS: polls until the stream has STATUS (30 s at most).
wait_status() {
	local i s
	for i in $(seq 150); do
		s=$(aws_ describe-stream-summary --stream-name "$1" \
			--query StreamDescriptionSummary.StreamStatus --output text 2>/dev/null) || s=gone
		[ "$s" = "$2" ] && return 0
		sleep 0.2
	done
	fail "$1 not $2 after 30 s (last: $s)"
}

wait_active() {
	wait_status "$1" ACTIVE
	aws_ wait stream-exists --stream-name "$1" || fail "wait stream-exists $1"
}

# expect_err CODE OPERATION MESSAGE -- ARGS...: the CLI must exit with the
# service-error code and print exactly AWS's line for CODE and MESSAGE.
expect_err() {
	local code=$1 op=$2 msg=$3 rc
	shift 4
	rc=0
	aws_ "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc = "$svc_rc" ] || fail "$op: exit $rc, want $svc_rc; stdout: $(head -c 300 "$T/out") stderr: $(head -c 300 "$T/err")"
	# v2 adds " (reached max retries: 0)" after the operation name.
	want "$(sed -E 's/ operation \(reached max retries: [0-9]+\):/ operation:/' "$T/err")" "$(printf '\nAn error occurred (%s) when calling the %s operation: %s' \
		"$code" "$op" "$msg")" "$op error"
}

# read_shard [--to-end] SHARD ITERATOR_TYPE [extra args]: the records of a
# shard, one line each, "seq key data", until caught up (MillisBehindLatest
# 0: one call for these small shards) or, with --to-end, until the shard
# ends (no NextShardIterator). The last page is left in $T/gr.
read_shard() {
	local to_end=0 shard it n
	[ "$1" = --to-end ] && { to_end=1; shift; }
	shard=$1
	shift
	it=$(aws_ get-shard-iterator --stream-name "$S" --shard-id "$shard" \
		--shard-iterator-type "$@" --query ShardIterator --output text) || fail "get-shard-iterator"
	for n in $(seq 20); do
		aws_ get-records --shard-iterator "$it" >"$T/gr" || fail "get-records"
		jq -r '.Records[] | "\(.SequenceNumber) \(.PartitionKey) \(.Data | @base64d)"' "$T/gr"
		it=$(jq -r '.NextShardIterator // empty' "$T/gr")
		[ -n "$it" ] || return 0
		[ $to_end = 1 ] || [ "$(jq '.MillisBehindLatest // 0' "$T/gr")" != 0 ] || return 0
	done
	fail "$shard: not caught up after 20 get-records"
}

passed=0 failed=0 skipped=0 failures=
# run_case NAME FUNCTION [only=sluiced:why]
run_case() {
	local name=$1 fn=$2 only=${3:-} t0 rc
	if [ -n "$only" ] && [ "${only%%:*}" != "$TARGET" ]; then
		echo "skip $name: ${only%%:*}-only (${only#*:})"
		skipped=$((skipped + 1))
		return
	fi
	t0=$(date +%s%N)
	(set -eo pipefail; $fn) >"$T/case.log" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		t0=$((($(date +%s%N) - t0) / 10000000))
		printf 'ok   %s (%d.%02d s)\n' "$name" $((t0 / 100)) $((t0 % 100))
		passed=$((passed + 1))
	else
		echo "FAIL $name: $(grep -v "^$" "$T/case.log" | tail -n 5)"
		failed=$((failed + 1))
		failures="$failures; $name"
	fi
}

# ---------------------------------------------------------------- cases

c_create() {
	aws_ create-stream --stream-name "$S" --shard-count 2
	for x in a b; do aws_ create-stream --stream-name "$S-$x" --shard-count 1; done
	wait_status "$S-a" ACTIVE
	wait_status "$S-b" ACTIVE
	wait_active "$S"
}

c_describe() {
	aws_ describe-stream --stream-name "$S" >"$T/d"
	want "$(jq -r .StreamDescription.StreamStatus "$T/d")" ACTIVE StreamStatus
	want "$(jq -r '[.StreamDescription.Shards[].ShardId] | join(" ")' "$T/d")" \
		"$(sid 0) $(sid 1)" shards
	want "$(jq -r '[.StreamDescription.Shards[].HashKeyRange | .StartingHashKey, .EndingHashKey] | join(" ")' "$T/d")" \
		"0 170141183460469231731687303715884105727 $HALF $HASH_MAX" "hash-key ranges"
	want "$(jq -r .StreamDescription.RetentionPeriodHours "$T/d")" 24 RetentionPeriodHours
	arn=$(jq -r .StreamDescription.StreamARN "$T/d")
	[[ $arn =~ ^arn:aws:kinesis:us-east-1:([0-9]{12}):stream/$S$ ]] || fail "StreamARN $arn"
	echo "${BASH_REMATCH[1]}" >"$T/account"
	echo "$arn" >"$T/arn"
	aws_ describe-stream-summary --stream-name "$S" >"$T/d"
	want "$(jq -r .StreamDescriptionSummary.OpenShardCount "$T/d")" 2 OpenShardCount
	want "$(jq -r .StreamDescriptionSummary.StreamARN "$T/d")" "$arn" "summary StreamARN"
}

c_list_streams() {
	want "$(aws_ list-streams | jq -r --arg p "$S" '[.StreamNames[] | select(startswith($p))] | join(" ")')" \
		"$S $S-a $S-b" "list-streams"
}

c_list_streams_paged() {
	# --page-size 1: the CLI follows NextToken call after call.
	want "$(aws_ list-streams --page-size 1 | jq -r --arg p "$S" '[.StreamNames[] | select(startswith($p))] | join(" ")')" \
		"$S $S-a $S-b" "list-streams --page-size 1"
	want "$(aws_ list-streams --max-items 1 | jq -r '.StreamNames | length')" 1 "--max-items 1"
}

c_list_shards() {
	want "$(aws_ list-shards --stream-name "$S" | jq -r '[.Shards[].ShardId] | join(" ")')" \
		"$(sid 0) $(sid 1)" "list-shards"
	want "$(aws_ list-shards --stream-name "$S" --exclusive-start-shard-id "$(sid 0)" |
		jq -r '[.Shards[].ShardId] | join(" ")')" "$(sid 1)" "--exclusive-start-shard-id"
}

c_list_shards_paged() {
	local tok
	# One call at a time (--no-paginate): page 2 carries the NextToken alone.
	aws_ list-shards --stream-name "$S" --max-results 1 --no-paginate >"$T/p1"
	want "$(jq -r '[.Shards[].ShardId] | join(" ")' "$T/p1")" "$(sid 0)" "page 1"
	tok=$(jq -r '.NextToken // empty' "$T/p1")
	[ -n "$tok" ] || fail "page 1 has no NextToken: $(cat "$T/p1")"
	aws_ list-shards --next-token "$tok" --max-results 1 --no-paginate >"$T/p2"
	want "$(jq -r '[.Shards[].ShardId] | join(" ")' "$T/p2")" "$(sid 1)" "page 2"
	want "$(jq -r '.NextToken // "none"' "$T/p2")" none "NextToken on the last page"
	# The CLI's own paging resends --stream-name beside the NextToken, which
	# AWS refuses (aws/aws-cli#9635): so must the server.
	expect_err InvalidArgumentException ListShards \
		"NextToken and StreamName cannot be provided together." -- \
		list-shards --stream-name "$S" --page-size 1
}

c_put_record() {
	aws_ put-record --stream-name "$S" --partition-key k --data hello >"$T/p"
	# md5("k") lies in the upper half of the hash space (research 2.2).
	want "$(jq -r .ShardId "$T/p")" "$(sid 1)" "shard of key k"
	[[ $(jq -r .SequenceNumber "$T/p") =~ ^[0-9]{56}$ ]] || fail "SequenceNumber $(cat "$T/p")"
	jq -r .SequenceNumber "$T/p" >"$T/seq_hello"
	aws_ put-record --stream-name "$S" --partition-key k --data world \
		--sequence-number-for-ordering "$(cat "$T/seq_hello")" >"$T/p2"
	python3 -c "import sys; assert int(sys.argv[1]) > int(sys.argv[2]), sys.argv" \
		"$(jq -r .SequenceNumber "$T/p2")" "$(cat "$T/seq_hello")" || fail "numbers not increasing"
}

c_put_records() {
	local i
	{
		echo '['
		for i in 0 1 2 3 4 5; do
			[ $i = 0 ] || echo ,
			if [ $((i % 2)) = 0 ]; then e=0; else e=$HASH_MAX; fi
			printf '{"PartitionKey":"pk%d","Data":"rec-%d","ExplicitHashKey":"%s"}' $i $i $e
		done
		echo ']'
	} >"$T/recs.json"
	aws_ put-records --stream-name "$S" --records "file://$T/recs.json" >"$T/pr"
	want "$(jq -r '.FailedRecordCount // 0' "$T/pr")" 0 FailedRecordCount
	want "$(jq -r '[.Records[].ShardId] | join(" ")' "$T/pr")" \
		"$(sid 0) $(sid 1) $(sid 0) $(sid 1) $(sid 0) $(sid 1)" "results in request order"
	jq -r '.Records[] | .SequenceNumber' "$T/pr" >"$T/pr_seqs"
}

c_read_trim_horizon() {
	read_shard "$(sid 0)" TRIM_HORIZON >"$T/s0"
	want "$(cut -d' ' -f2- "$T/s0" | tr '\n' ,)" "pk0 rec-0,pk2 rec-2,pk4 rec-4," "shard 0 records"
	want "$(cut -d' ' -f1 "$T/s0" | tr '\n' ,)" "$(sed -n '1p;3p;5p' "$T/pr_seqs" | tr '\n' ,)" \
		"shard 0 numbers = put-records results 1, 3, 5"
	read_shard "$(sid 1)" TRIM_HORIZON >"$T/s1"
	want "$(cut -d' ' -f2- "$T/s1" | tr '\n' ,)" "k hello,k world,pk1 rec-1,pk3 rec-3,pk5 rec-5," \
		"shard 1 records"
	want "$(head -n 1 "$T/s1" | cut -d' ' -f1)" "$(cat "$T/seq_hello")" "hello's number"
}

c_read_at_after() {
	local seq
	seq=$(cat "$T/seq_hello")
	want "$(read_shard "$(sid 1)" AT_SEQUENCE_NUMBER --starting-sequence-number "$seq" |
		head -n 2 | cut -d' ' -f3 | tr '\n' ,)" "hello,world," AT_SEQUENCE_NUMBER
	want "$(read_shard "$(sid 1)" AFTER_SEQUENCE_NUMBER --starting-sequence-number "$seq" |
		head -n 2 | cut -d' ' -f3 | tr '\n' ,)" "world,rec-1," AFTER_SEQUENCE_NUMBER
}

c_read_latest() {
	local it
	it=$(aws_ get-shard-iterator --stream-name "$S" --shard-id "$(sid 0)" \
		--shard-iterator-type LATEST --query ShardIterator --output text)
	aws_ put-record --stream-name "$S" --partition-key L --data after-latest \
		--explicit-hash-key 5 >/dev/null
	aws_ get-records --shard-iterator "$it" >"$T/gr"
	want "$(jq -r '[.Records[].Data | @base64d] | join(",")' "$T/gr")" after-latest LATEST
}

c_read_at_timestamp() {
	local ts first
	# Before the stream existed: everything from the start.
	ts=$(($(date +%s) - 120))
	first=$(read_shard "$(sid 0)" AT_TIMESTAMP --timestamp "$ts" | head -n 1 | cut -d' ' -f3)
	want "$first" rec-0 "AT_TIMESTAMP before the first record"
	sleep 1.1
	ts=$(date +%s.%N | cut -c1-14)
	aws_ put-record --stream-name "$S" --partition-key T --data at-ts --explicit-hash-key 6 \
		>/dev/null
	want "$(read_shard "$(sid 0)" AT_TIMESTAMP --timestamp "$ts" | cut -d' ' -f3 | tr '\n' ,)" \
		"at-ts," "AT_TIMESTAMP just before the last record"
}

c_split() {
	aws_ split-shard --stream-name "$S" --shard-to-split "$(sid 0)" --new-starting-hash-key "$Q"
	wait_active "$S"
	aws_ list-shards --stream-name "$S" >"$T/ls"
	want "$(jq -r '[.Shards[].ShardId] | join(" ")' "$T/ls")" "$(sid 0) $(sid 1) $(sid 2) $(sid 3)" \
		"shards after split-shard"
	want "$(jq -r '.Shards[0].SequenceNumberRange | has("EndingSequenceNumber")' "$T/ls")" true \
		"parent closed"
	want "$(jq -r '[.Shards[2,3].ParentShardId] | join(" ")' "$T/ls")" "$(sid 0) $(sid 0)" \
		"children's parent"
	# The closed parent reads to its end: no NextShardIterator.
	read_shard --to-end "$(sid 0)" TRIM_HORIZON >/dev/null
	want "$(jq -r '.NextShardIterator // "none"' "$T/gr")" none "NextShardIterator at the end"
}

c_merge() {
	aws_ merge-shards --stream-name "$S" --shard-to-merge "$(sid 2)" \
		--adjacent-shard-to-merge "$(sid 3)"
	wait_active "$S"
	aws_ describe-stream --stream-name "$S" >"$T/d"
	want "$(jq -r '.StreamDescription.Shards[4] | "\(.ShardId) \(.ParentShardId) \(.AdjacentParentShardId)"' "$T/d")" \
		"$(sid 4) $(sid 2) $(sid 3)" "merged shard"
}

c_update_shard_count() {
	aws_ update-shard-count --stream-name "$S" --target-shard-count 4 \
		--scaling-type UNIFORM_SCALING >"$T/u"
	want "$(jq -r '"\(.CurrentShardCount) \(.TargetShardCount)"' "$T/u")" "2 4" "update-shard-count"
	wait_active "$S"
	want "$(aws_ describe-stream-summary --stream-name "$S" \
		--query StreamDescriptionSummary.OpenShardCount)" 4 OpenShardCount
}

c_retention() {
	aws_ increase-stream-retention-period --stream-name "$S" --retention-period-hours 48
	want "$(aws_ describe-stream-summary --stream-name "$S" \
		--query StreamDescriptionSummary.RetentionPeriodHours)" 48 "after increase"
	aws_ decrease-stream-retention-period --stream-name "$S" --retention-period-hours 24
	want "$(aws_ describe-stream-summary --stream-name "$S" \
		--query StreamDescriptionSummary.RetentionPeriodHours)" 24 "after decrease"
}

c_tags() {
	aws_ add-tags-to-stream --stream-name "$S" --tags team=ingest,env=test
	want "$(aws_ list-tags-for-stream --stream-name "$S" |
		jq -r '[.Tags[] | "\(.Key)=\(.Value)"] | sort | join(",")')" "env=test,team=ingest" tags
	aws_ remove-tags-from-stream --stream-name "$S" --tag-keys env
	want "$(aws_ list-tags-for-stream --stream-name "$S" |
		jq -r '[.Tags[] | "\(.Key)=\(.Value)"] | join(",")')" "team=ingest" "after remove"
}

c_arn() {
	local arn
	arn=$(cat "$T/arn")
	want "$(aws_ describe-stream-summary --stream-arn "$arn" \
		--query StreamDescriptionSummary.StreamName --output text)" "$S" "by --stream-arn"
	[[ $(aws_ put-record --stream-arn "$arn" --partition-key k --data by-arn \
		--query SequenceNumber --output text) =~ ^[0-9]{56}$ ]] || fail "put-record --stream-arn"
}

c_describe_limits() {
	aws_ describe-limits >"$T/l"
	jq -e '(.ShardLimit|type) == "number" and (.OpenShardCount|type) == "number"' "$T/l" \
		>/dev/null || fail "describe-limits: $(cat "$T/l")"
}

c_errors() {
	local acct n=$S-nope key big
	acct=$(cat "$T/account")
	expect_err ResourceNotFoundException DescribeStreamSummary \
		"Stream $n under account $acct not found." -- describe-stream-summary --stream-name "$n"
	expect_err ResourceNotFoundException PutRecord \
		"Stream $n under account $acct not found." -- put-record --stream-name "$n" \
		--partition-key k --data x
	expect_err ResourceNotFoundException GetShardIterator \
		"Shard $(sid 99) in stream $S under account $acct does not exist" -- \
		get-shard-iterator --stream-name "$S" --shard-id "$(sid 99)" --shard-iterator-type LATEST
	expect_err InvalidArgumentException GetRecords "Invalid ShardIterator." -- \
		get-records --shard-iterator AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
	key=$(printf 'k%.0s' $(seq 257))
	expect_err ValidationException PutRecord \
		"1 validation error detected: Value '$key' at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256" \
		-- put-record --stream-name "$S" --partition-key "$key" --data x
	head -c 1048577 /dev/zero | tr '\0' b >"$T/big"
	expect_err ValidationException PutRecord \
		"1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576" \
		-- put-record --stream-name "$S" --partition-key k --data "fileb://$T/big"
	expect_err InvalidArgumentException IncreaseStreamRetentionPeriod \
		"Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short." \
		-- increase-stream-retention-period --stream-name "$S" --retention-period-hours 23
	local it
	it=$(aws_ get-shard-iterator --stream-name "$S" --shard-id "$(sid 1)" \
		--shard-iterator-type LATEST --query ShardIterator --output text)
	expect_err ValidationException GetRecords \
		"1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000" \
		-- get-records --shard-iterator "$it" --limit 10001
	python3 -c 'import json; print(json.dumps([{"PartitionKey": "k", "Data": "x"}] * 501))' \
		>"$T/501.json"
	aws_ put-records --stream-name "$S" --records "file://$T/501.json" >"$T/out" 2>"$T/err" &&
		fail "put-records of 501 records succeeded"
	grep -Eq "^An error occurred \(ValidationException\) when calling the PutRecords operation( \(reached max retries: [0-9]+\))?: 1 validation error detected: Value '\[.*\]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500$" \
		"$T/err" || fail "501 records: $(head -c 400 "$T/err")"
	expect_err ResourceInUseException CreateStream \
		"Stream $S under account $acct already exists." -- create-stream --stream-name "$S" \
		--shard-count 1
}

c_delete() {
	local n
	for n in "$S" "$S-a" "$S-b"; do aws_ delete-stream --stream-name "$n"; done
	for n in "$S" "$S-a" "$S-b"; do wait_status "$n" gone; done
	aws_ wait stream-not-exists --stream-name "$S" || fail "wait stream-not-exists"
	want "$(aws_ list-streams | jq -r --arg p "$S" '[.StreamNames[] | select(startswith($p))] | length')" \
		0 "our streams after delete"
}

echo "aws CLI $ver: $version; $TARGET at $EP"
run_case "create-stream, wait stream-exists" c_create
[ -n "${CLI_ONLY:-}" ] && { for c in $CLI_ONLY; do run_case "$c" "$c"; done; echo "$passed passed, $failed failed"; exit; }
if [ $failed != 0 ]; then
	echo "stopping: the stream is needed by every case"
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 1
fi
run_case "describe-stream, describe-stream-summary" c_describe
run_case "list-streams" c_list_streams
run_case "list-streams --page-size 1 (NextToken paging), --max-items" c_list_streams_paged \
	"sluiced:kinesalite sends no NextToken"
run_case "list-shards, --exclusive-start-shard-id" c_list_shards
run_case "list-shards --max-results 1, --next-token; --page-size 1 refused as by AWS" c_list_shards_paged \
	"sluiced:kinesalite ignores MaxResults"
run_case "put-record (routing, --sequence-number-for-ordering)" c_put_record
run_case "put-records: results in request order" c_put_records
run_case "get-records from TRIM_HORIZON: every record at its number" c_read_trim_horizon
run_case "AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER" c_read_at_after
run_case "LATEST" c_read_latest
run_case "AT_TIMESTAMP" c_read_at_timestamp
run_case "split-shard; the parent reads to its end" c_split
run_case "merge-shards" c_merge
run_case "update-shard-count" c_update_shard_count "sluiced:kinesalite has no UpdateShardCount"
run_case "increase/decrease-stream-retention-period" c_retention
run_case "add/list/remove tags" c_tags
run_case "--stream-arn" c_arn "sluiced:kinesalite requires StreamName"
run_case "describe-limits" c_describe_limits "sluiced:kinesalite has no DescribeLimits"
run_case "errors: exit code and AWS's message" c_errors
run_case "delete-stream, wait stream-not-exists" c_delete
echo "$passed passed, $failed failed, $skipped skipped"
[ -z "$failures" ] || echo "failed:${failures#;}"
[ $failed = 0 ]
