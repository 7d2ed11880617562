# SPDX-License-Identifier: Apache-2.0
"""Shared by the Python conformance clients: the target, an AWS environment
sealed off from the host's, a tiny case runner and error assertions.

The target comes from the environment (the Criterion driver sets both):
  SLUICE_CONF_ENDPOINT  http://127.0.0.1:4567 by default
  SLUICE_CONF_TARGET    sluiced (default) or kinesalite: which server answers,
                        so that checks of what only sluice does (ChildShards,
                        StreamARN, UpdateShardCount, paging tokens, ...) are
                        skipped against kinesalite with the reason printed.

Expected texts are the ones AWS sends, as recorded in
shared/research/kinesis-api.md (kinesalite's AWS-checked tests and probes).
Each case prints one line, `ok`, `FAIL` or `skip`, and the script ends with
`N passed, N failed, N skipped`; it exits 1 if anything failed.
"""

import atexit
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

ENDPOINT = os.environ.get("SLUICE_CONF_ENDPOINT", "http://127.0.0.1:4567")
TARGET = os.environ.get("SLUICE_CONF_TARGET", "sluiced")
REGION = "us-east-1"
HASH_MAX = 2**128 - 1

if TARGET not in ("sluiced", "kinesalite"):
    sys.exit(f"SLUICE_CONF_TARGET={TARGET!r}: expected sluiced or kinesalite")

# Variables of the host's AWS setup that could steer a client elsewhere.
_FOREIGN = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_CA_BUNDLE", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CLI_AUTO_PROMPT", "AWS_RETRY_MODE", "AWS_REGION",
)


def seal_aws_env():
    """Dummy credentials, one region, one attempt, and config files in a
    private temporary directory, so nothing on the host takes part."""
    d = tempfile.mkdtemp(prefix="sluice-conf-aws-")
    atexit.register(shutil.rmtree, d, True)
    for name in ("config", "credentials"):
        open(os.path.join(d, name), "w").close()
    for v in _FOREIGN:
        os.environ.pop(v, None)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "AKIDSLUICECONFORMANCE",
        "AWS_SECRET_ACCESS_KEY": "conformance-secret",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_CONFIG_FILE": os.path.join(d, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(d, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
    })


seal_aws_env()

# ---- cases ----

_counts = {"ok": 0, "FAIL": 0, "skip": 0, "gap": 0}
_failures = []


def _report(status, name, why=""):
    _counts[status] += 1
    print(f"{status:4} {name}{': ' + why if why else ''}", flush=True)


class Skip(Exception):
    """Raised inside a case: it cannot run here (the reason is printed)."""


def case(name, only=None, required=False, gap=None):
    """Decorator that runs the function at once as one case. only="sluiced"
    skips it against kinesalite (why: the string after the colon in
    only="sluiced: why"); required=True stops the script when it fails,
    for steps the rest depends on. gap="sluiced: why" names a known gap of
    that target: a failure there is reported as `gap` with the reason and
    does not fail the script (so the suite stays a gate for everything
    else), and a pass says the marker can go."""

    def run(fn):
        if only:
            who, _, why = only.partition(":")
            if who.strip() != TARGET:
                _report("skip", name, f"{who.strip()}-only ({why.strip() or 'not in ' + TARGET})")
                return fn
        gap_who, _, gap_why = (gap or "").partition(":")
        known = gap is not None and gap_who.strip() == TARGET
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            _report("skip", name, str(e))
            return fn
        except Exception as e:  # noqa: BLE001 - every failure is reported
            msg = str(e) if isinstance(e, AssertionError) else traceback.format_exc(limit=4)
            if known:
                _report("gap", name, f"known gap of {TARGET} ({gap_why.strip()}): "
                        + msg.strip().splitlines()[-1])
                return fn
            _report("FAIL", name, msg.strip())
            _failures.append(name)
            if required:
                print(f"stopping: '{name}' is needed by the cases after it", flush=True)
                finish()
            return fn
        _report("ok", f"{name} ({time.monotonic() - t0:.2f} s)"
                + (f" [marked as a known gap of {TARGET}: remove the marker]" if known else ""))
        return fn

    return run


def skip(name, why):
    _report("skip", name, why)


def finish():
    if _counts["gap"]:
        print(f"{_counts['gap']} known gap(s) of {TARGET}, not counted as failures", flush=True)
    print(f"{_counts['ok']} passed, {_counts['FAIL']} failed, {_counts['skip']} skipped",
          flush=True)
    if _failures:
        print("failed: " + "; ".join(_failures), flush=True)
    sys.exit(1 if _failures else 0)


# ---- assertions ----


def eq(got, want, what):
    assert got == want, f"{what}: want {want!r}, got {got!r}"


def expect_error(client, call, code, message=None, match=None, status=400):
    """call() must fail with __type `code` and HTTP `status`; its message
    must equal `message` or fully match the regex `match`. Returns the
    ClientError. Modelled codes must arrive as the modelled exception class
    (the bare __type, research 1.3)."""
    from botocore.exceptions import ClientError

    try:
        r = call()
    except ClientError as e:
        err = e.response.get("Error", {})
        got, msg = err.get("Code"), err.get("Message")
        meta = e.response.get("ResponseMetadata", {})
        assert got == code, f"want {code}, got {got}: {msg!r}"
        eq(meta.get("HTTPStatusCode"), status, f"{code}: HTTP status")
        modelled = getattr(client.exceptions, code, None)
        if modelled is not None:
            assert isinstance(e, modelled), f"{code} not raised as {modelled.__name__}"
        if message is not None:
            assert msg == message, f"{code} message:\n    want {message!r}\n    got  {msg!r}"
        if match is not None:
            assert msg and re.fullmatch(match, msg, re.S), (
                f"{code} message:\n    want /{match}/\n    got  {msg!r}")
        return e
    raise AssertionError(f"want {code}, but the call succeeded: {str(r)[:300]}")


# ---- Kinesis facts ----


def hash_of(key):
    """A partition key's hash key: MD5, big-endian (research 2.2)."""
    return int.from_bytes(hashlib.md5(key.encode()).digest(), "big")


def shard_for(shards, hk):
    """The open shard of a ListShards/DescribeStream list covering hk."""
    for s in shards:
        r = s["HashKeyRange"]
        if ("EndingSequenceNumber" not in s["SequenceNumberRange"]
                and int(r["StartingHashKey"]) <= hk <= int(r["EndingHashKey"])):
            return s["ShardId"]
    raise AssertionError(f"no open shard covers hash key {hk}")


def even_ranges(n):
    """How Kinesis lays out a new stream of n shards (research 2.2)."""
    h = (HASH_MAX + 1) // n
    return [(i * h, HASH_MAX if i == n - 1 else (i + 1) * h - 1) for i in range(n)]


def shard_id(i):
    return f"shardId-{i:012d}"


def arn_re(name):
    return rf"arn:aws:kinesis:{REGION}:(\d{{12}}):stream/{re.escape(name)}"
