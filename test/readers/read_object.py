#!/usr/bin/env python3
"""Independent reader for objects the sink wrote: downloads one S3 object and prints ONE JSON document.

Run with the test venv's python (scripts/infra/install-python.sh). It deliberately shares no code with the
TypeScript writers: pyarrow reads Parquet, fastavro reads Avro, Python's csv/json modules read the rest.

JSON rendering (so the TypeScript side can compare exactly):
  - integers stay exact (Python ints); the TS caller turns unsafe ones into BigInt
  - bytes -> base64 strings
  - timestamps -> ISO-8601 with as many fraction digits as the stored unit has (s: 0, ms: 3, us: 6, ns: 9),
    with the offset ('+00:00') when the value is UTC-adjusted / has a zone, without one when it is local
  - dates/times -> isoformat(), decimals -> str (exact), non-finite floats -> "NaN" / "Infinity" / "-Infinity"

Line-oriented formats (jsonl, text, bytes): the separator terminates records, so one trailing separator
does not make an extra empty record; "trailing_separator" says whether the object ended with one.
"""
import argparse
import base64
import csv
import datetime as dt
import decimal
import gzip
import io
import json
import math
import re
import sys
import traceback
import uuid
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

FORMATS = ["jsonl", "csv", "csv_with_headers", "text", "bytes", "avro", "parquet"]
COMPRESSIONS = ["none", "gzip", "zstd"]
UNIT_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class Timestamp:
    """An integer count of `unit` since the epoch; keeps full precision (datetime stops at microseconds)."""

    def __init__(self, value, unit, tz):
        self.value = value
        self.unit = unit
        self.tz = tz  # None: local (not UTC-adjusted); otherwise a zone name or offset


def format_timestamp(ts):
    per_second = 10 ** UNIT_DIGITS[ts.unit]
    seconds, fraction = divmod(ts.value, per_second)
    moment = EPOCH_UTC + dt.timedelta(seconds=seconds)
    if ts.tz is not None:
        moment = moment.astimezone(zone_for(ts.tz))
    text = moment.replace(tzinfo=None).isoformat(timespec="seconds")
    if UNIT_DIGITS[ts.unit]:
        text += "." + str(fraction).zfill(UNIT_DIGITS[ts.unit])
    if ts.tz is not None:
        text += moment.isoformat()[19:]  # whole seconds, so what follows HH:MM:SS is exactly the offset
    return text


def zone_for(tz):
    if tz in ("UTC", "Etc/UTC", "Z", "utc"):
        return dt.timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", tz)
    if m:
        delta = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return dt.timezone(-delta if m.group(1) == "-" else delta)
    import zoneinfo

    return zoneinfo.ZoneInfo(tz)


def jsonable(v):
    """Generic rendering of Python values produced by the readers."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, Timestamp):
        return format_timestamp(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    raise TypeError(f"cannot render {type(v).__name__} as JSON: {v!r}")


# ---------------------------------------------------------------------------------------------- S3 access

def s3_filesystem(args):
    url = urlparse(args.endpoint)
    if not url.scheme or not url.netloc:
        raise ValueError(f"--endpoint must be a URL like http://127.0.0.1:7070, got {args.endpoint!r}")
    return pafs.S3FileSystem(
        access_key=args.access_key,
        secret_key=args.secret_key,
        region=args.region,
        endpoint_override=url.netloc,
        scheme=url.scheme,
        force_virtual_addressing=False,
    )


def download(fs, path):
    # compression=None: pyarrow would otherwise guess a codec from the key's extension and decompress.
    with fs.open_input_stream(path, compression=None) as stream:
        return stream.read()


def decompress(data, compression):
    if compression == "none":
        return data
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zstd":
        with pa.CompressedInputStream(pa.BufferReader(data), "zstd") as stream:
            return stream.read()
    raise ValueError(f"unknown compression {compression!r}")


def decode_separator(text):
    """'\\n', '\\x00', '\\t' etc. -> bytes; literal non-ASCII characters are taken as UTF-8."""
    out = bytearray()
    for ch in text.encode("utf-8").decode("unicode_escape"):
        out += bytes([ord(ch)]) if ord(ch) < 256 else ch.encode("utf-8")
    if not out:
        raise ValueError("--separator must not be empty")
    return bytes(out)


def split_records(data, separator):
    parts = data.split(separator)
    trailing = data.endswith(separator)
    if trailing or data == b"":
        parts.pop()
    return parts, trailing


def utf8(data, what):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} is not valid UTF-8: {e}") from e


# ------------------------------------------------------------------------------------------- line formats

def reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def finite_float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} overflows a double")
    return value


def read_jsonl(data):
    lines, trailing = split_records(data, b"\n")
    rows = []
    for i, line in enumerate(lines, start=1):
        text = utf8(line, f"line {i}")
        try:
            rows.append(json.loads(text, parse_int=int, parse_float=finite_float, parse_constant=reject_constant))
        except ValueError as e:
            raise ValueError(f"line {i} is not valid JSON ({e}): {text[:200]!r}") from e
    return {"rows": rows, "trailing_separator": trailing}


def read_csv(data, delimiter):
    text = utf8(data, "object")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    return {"rows": [row for row in reader]}


def read_text(data, separator):
    lines, trailing = split_records(data, separator)
    return {"rows": [utf8(line, f"record {i}") for i, line in enumerate(lines, start=1)],
            "trailing_separator": trailing}


def read_bytes(data, separator):
    chunks, trailing = split_records(data, separator)
    return {"rows": [base64.b64encode(c).decode("ascii") for c in chunks], "trailing_separator": trailing}


# -------------------------------------------------------------------------------------------------- avro

def read_avro(data):
    import fastavro
    import fastavro._read as fastavro_read  # the compiled reader looks logical types up in this dict

    for unit, short in (("millis", "ms"), ("micros", "us"), ("nanos", "ns")):
        fastavro_read.LOGICAL_READERS[f"long-timestamp-{unit}"] = (
            lambda d, w=None, r=None, u=short: Timestamp(d, u, "UTC"))
        fastavro_read.LOGICAL_READERS[f"long-local-timestamp-{unit}"] = (
            lambda d, w=None, r=None, u=short: Timestamp(d, u, None))

    reader = fastavro.reader(io.BytesIO(data))
    rows = [jsonable(record) for record in reader]
    metadata = {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                for k, v in reader.metadata.items() if k not in ("avro.schema", "avro.codec")}
    return {
        "schema": json.loads(reader.metadata["avro.schema"]),
        "codec": reader.codec,
        "rows": rows,
        "metadata": metadata,
    }


# ----------------------------------------------------------------------------------------------- parquet

def int_timestamps(t):
    """The same Arrow type with every timestamp replaced by int64, so values keep nanosecond precision."""
    if pa.types.is_timestamp(t):
        return pa.int64()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(int_timestamps(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(t.key_field.with_type(int_timestamps(t.key_type)),
                       t.item_field.with_type(int_timestamps(t.item_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(int_timestamps(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(int_timestamps(t.value_type)), t.list_size)
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(int_timestamps(t.value_type)))
    return t


def render_arrow(v, t):
    if v is None:
        return None
    if pa.types.is_timestamp(t):
        return format_timestamp(Timestamp(v, t.unit, t.tz))
    if pa.types.is_struct(t):
        return {f.name: render_arrow(v[f.name], f.type) for f in t}
    if pa.types.is_map(t):
        return [[render_arrow(k, t.key_type), render_arrow(x, t.item_type)] for k, x in v]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [render_arrow(x, t.value_type) for x in v]
    return jsonable(v)


def read_parquet(fs, path):
    import pyarrow.parquet as pq

    with fs.open_input_file(path) as f:
        pf = pq.ParquetFile(f)
        table = pf.read()
        meta = pf.metadata
        schema = pf.schema_arrow
        columns = [{
            "path": pf.schema.column(i).path,
            "physical_type": pf.schema.column(i).physical_type,
            "logical_type": str(pf.schema.column(i).logical_type),
            "max_definition_level": pf.schema.column(i).max_definition_level,
            "max_repetition_level": pf.schema.column(i).max_repetition_level,
        } for i in range(meta.num_columns)]
        codecs = ([meta.row_group(0).column(i).compression for i in range(meta.num_columns)]
                  if meta.num_row_groups else [])

    target = pa.schema([f.with_type(int_timestamps(f.type)) for f in table.schema])
    plain = table.cast(target) if target != table.schema else table
    rows = [{f.name: render_arrow(r[f.name], f.type) for f in table.schema} for r in plain.to_pylist()]
    kv = {}
    for k, v in (meta.metadata or {}).items():
        kv[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return {
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
        "columns": columns,
        "rows": rows,
        "num_rows": meta.num_rows,
        "num_row_groups": meta.num_row_groups,
        "codecs": codecs,
        "metadata": kv,
        "created_by": meta.created_by,
    }


# -------------------------------------------------------------------------------------------------- main

def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--bucket", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--compression", default="none", choices=COMPRESSIONS)
    p.add_argument("--separator", default="\\n", help="record separator for text/bytes, with escapes (default \\n)")
    p.add_argument("--delimiter", default=",", help="CSV field delimiter (default ,)")
    args = p.parse_args(argv)

    if args.format in ("avro", "parquet") and args.compression != "none":
        raise ValueError(f"{args.format} carries its own codecs; --compression must be none")
    if len(args.delimiter) != 1:
        raise ValueError("--delimiter must be one character")

    fs = s3_filesystem(args)
    path = f"{args.bucket}/{args.key}"
    if args.format == "parquet":
        result = read_parquet(fs, path)
    else:
        data = decompress(download(fs, path), args.compression)
        if args.format == "jsonl":
            result = read_jsonl(data)
        elif args.format in ("csv", "csv_with_headers"):
            result = read_csv(data, args.delimiter)
        elif args.format == "text":
            result = read_text(data, decode_separator(args.separator))
        elif args.format == "bytes":
            result = read_bytes(data, decode_separator(args.separator))
        else:
            result = read_avro(data)

    out = json.dumps(jsonable(result), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.buffer.write(b"\n")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - any failure must be a non-zero exit with the reason on stderr
        traceback.print_exc(file=sys.stderr)
        print(f"read_object.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
