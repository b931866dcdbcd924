#!/usr/bin/env python3
"""Lands documents in real Iceberg tables (pyiceberg) the way Firehose's Iceberg destination maps them, and reads
them back: the S3 Tables path without Firehose (which cannot run here).

Input (stdin, or --input FILE): one JSON document
  {"tables": [{"namespace": "kafka", "name": "orders",
               "schemaFieldList": [{"Name": "order_id", "Type": "string", "Required": true}, ...],
               "documents": ["<JSON text of one document>", ...]}, ...]}
schemaFieldList is exactly the synthesized AWS::S3Tables::Table IcebergMetadata.IcebergSchema.SchemaFieldList;
each document is the JSON text of one Kinesis record (parsed here with exact numbers).

It creates a SQL catalog (a sqlite file) with a file:// warehouse in a temporary directory, creates each table
with the declared Iceberg types, converts each document to a row (below), decides per document whether the row
fits (our conversion, then pyarrow with the table's Arrow schema, as pyiceberg writes it), appends the rows that
fit in one commit per table, scans the table back and prints ONE JSON document:
  {"pyiceberg": "...", "pyarrow": "...",
   "tables": [{"identifier", "iceberg_schema": [{"id", "name", "type", "required"}],   # loaded from the catalog
               "arrow_schema": [{"name", "type", "nullable"}],                        # of the scan
               "verdicts": [{"index", "accepted": true, "ignored": [...]} |
                            {"index", "accepted": false, "column", "kind": "refused" | "lossy", "reason"}],
               "rows": [{"index", "values": {column: value}}], "data_files": n}]}
Rendering: integers exact; decimal -> its text with exactly `scale` digits after the point; timestamp,
timestamptz and time -> integer microseconds (since the epoch, since midnight); date -> "YYYY-MM-DD";
binary / fixed -> base64; uuid -> canonical text; float -> the float32 value widened to a double.

How Firehose maps a document to a row (our reading of "Understand supported data types",
https://docs.aws.amazon.com/firehose/latest/dev/apache-iceberg-destination-supp.html, and "Considerations and
limitations", https://docs.aws.amazon.com/firehose/latest/dev/apache-iceberg-considerations.html):
  - Columns are the document's first-level fields; nested JSON only fills struct/map/list columns (not declared
    by this stack, so not converted here). The docs do not say how names are matched: we match the exact name and
    refuse a document with a field that differs from a column only in letter case (ambiguous). Other fields are
    ignored (reported). A missing field or null is a null; a required column refuses it.
  - What the docs show, per type (their examples): boolean true / "false" / 1 / 0; int and long 7 / "7";
    float and double 0.6242226 / "0.6242226"; decimal 9455262425851.1342772 / "9455262425851.1342772" /
    9455262425852; date 19970 (days since 1970-01-01) / "2024-09-04"; time 68175096000 (microseconds since
    midnight) / "18:56:15.096"; timestamptz 1725476175099000 / "2024-09-04T18:56:15.099Z" /
    "2024-09-04T18:56:15.099"; timestamp 1725476175114000 / "2024-09-04T18:56:15.114" / "...114Z" /
    "...114-07:00"; uuid "21c5521c-a6d4-48d4-b2c8-7f6d842f72c3". "For Timestamp data types, you must always send
    in microseconds." "When sending binary data as a string, you must use Firehose supported encoding types -
    Basic Base64, MIME Base64, URL and filename safe Base64, and Hex."
  - Where the docs are silent, our assumptions (conservative: a form the docs do not show is refused):
    * numbers in strings follow the JSON number grammar; for int and long they are plain integers (what the
      docs' "7" shows and Java's Long.parseLong reads: "1e3" or "7.0" is refused), and a JSON number for
      those and for date, time and timestamp columns must be an integer literal (7, not 7.0 or 7e0: Firehose
      may read those through a double, which holds no more than 2^53 exactly);
    * decimals are read exactly (never through a double); a value with more digits after the point than the
      scale, or more before it than precision - scale, is refused (Iceberg keeps decimals exactly);
    * a float or double that overflows to infinity, or a nonzero one that becomes 0, is refused (lossy);
    * ISO-8601 texts are YYYY-MM-DD, HH:MM[:SS[.fraction]], and YYYY-MM-DDTHH:MM[:SS[.fraction]] with an
      optional Z or +-HH:MM offset (at most 18:00, Java's ZoneOffset); a text without offset is UTC for
      timestamptz; an offset given for a timestamp (no zone) column is applied (the instant, in UTC); digits
      past the sixth of a fraction must be 0 (Iceberg keeps microseconds; otherwise lossy);
    * instants, dates and times are limited to what Python's datetime holds (years 0001..9999): the readers of
      the tables hold no more;
    * binary text is tried as basic base64 (padded), MIME base64 (CRLF or LF line breaks), URL-safe base64,
      then hex, and the first that decodes wins; uuid is the canonical 8-4-4-4-12 hex text; string is a JSON
      string that has a UTF-8 form (no lone surrogate).
Deliberately independent of the TypeScript forwarder: Python's json (exact numbers), decimal, datetime, base64
and uuid, pyarrow's casts and pyiceberg's writer judge the values.
"""
import argparse
import base64
import binascii
import datetime as dt
import decimal
import json
import re
import sys
import tempfile
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyiceberg
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType, BooleanType, DateType, DecimalType, DoubleType, FixedType, FloatType, IntegerType, LongType,
    NestedField, StringType, TimestampType, TimestamptzType, TimeType, UUIDType,
)

PRIMITIVES = {
    "boolean": BooleanType, "int": IntegerType, "long": LongType, "float": FloatType, "double": DoubleType,
    "date": DateType, "time": TimeType, "timestamp": TimestampType, "timestamptz": TimestamptzType,
    "string": StringType, "uuid": UUIDType, "binary": BinaryType,
}
EPOCH = dt.datetime(1970, 1, 1)
# re.ASCII: \d is 0-9 only (Python's int() and \d also take other scripts' digits).
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
PLAIN_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)", re.ASCII)
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
TIME = r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
TIME_RE = re.compile(TIME, re.ASCII)
DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T" + TIME + r"(Z|[+-]\d{2}:\d{2})?", re.ASCII)
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
B64_URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class Refusal(Exception):
    def __init__(self, reason, kind="refused"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def iceberg_type(text):
    """A CloudFormation SchemaFieldList Type string -> the pyiceberg type (primitive types only)."""
    t = text.strip().lower()
    if t in PRIMITIVES:
        return PRIMITIVES[t]()
    m = re.fullmatch(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)", t)
    if m:
        return DecimalType(int(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"fixed\[\s*(\d+)\s*\]", t)
    if m:
        return FixedType(int(m.group(1)))
    raise SystemExit(f"iceberg_tables.py: type {text!r} is not a primitive Iceberg type this script maps")


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_fields(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"field {k!r} appears twice")
        out[k] = v
    return out


def parse_document(text):
    return json.loads(text, parse_float=decimal.Decimal, parse_constant=_reject_constant, object_pairs_hook=_unique_fields)


def number_of(v):
    """A JSON number (int or Decimal), or a string in the JSON number grammar; else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, decimal.Decimal)):
        return v
    if isinstance(v, str) and JSON_NUMBER.fullmatch(v):
        return int(v) if PLAIN_INTEGER.fullmatch(v) else decimal.Decimal(v)
    return None


def integer_of(v, what):
    """An integer column value: a JSON integer literal, or a plain integer string."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and PLAIN_INTEGER.fullmatch(v):
        return int(v)
    if isinstance(v, decimal.Decimal) or (isinstance(v, str) and JSON_NUMBER.fullmatch(v)):
        raise Refusal(f"{v} is not written as a plain integer ({what} from 7.0 or 7e0 is undocumented)")
    raise Refusal(f"expected {what}")


def fraction_micros(fraction):
    if fraction is None:
        return 0
    if len(fraction) > 6 and fraction[6:].strip("0"):
        raise Refusal(f"fraction .{fraction} is finer than the microseconds Iceberg keeps", "lossy")
    return int(fraction[:6].ljust(6, "0"))


def from_text(regex, v, form, build, what):
    """build(match) of a text matching `regex`; a Refusal naming the form, or what the text is not."""
    m = regex.fullmatch(v)
    if not m:
        raise Refusal(f"expected {form}")
    try:
        return build(m)
    except ValueError as e:
        raise Refusal(f"not {what} ({e})") from None


def to_time(v):
    if isinstance(v, str):
        return from_text(TIME_RE, v, "HH:MM[:SS[.fraction]]",
                         lambda m: dt.time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), fraction_micros(m.group(4))), "a time of day")
    n = integer_of(v, "microseconds since midnight")
    if not 0 <= n < 86_400_000_000:
        raise Refusal(f"{n} is not microseconds since midnight")
    return (dt.datetime.min + dt.timedelta(microseconds=n)).time()


def to_datetime(v, with_zone):
    if isinstance(v, str):
        m = DATETIME.fullmatch(v)
        if not m:
            raise Refusal("expected an ISO-8601 date-time YYYY-MM-DDTHH:MM[:SS[.fraction]][Z|+-HH:MM]")
        y, mo, d, h, mi = (int(m.group(i)) for i in range(1, 6))
        zone = m.group(8)
        try:
            local = dt.datetime(y, mo, d, h, mi, int(m.group(6) or 0), fraction_micros(m.group(7)))
            if zone in (None, "Z"):
                utc = local
            else:
                oh, om = int(zone[1:3]), int(zone[4:6])
                if oh > 18 or om > 59 or (oh == 18 and om > 0):
                    raise Refusal(f"offset {zone} is beyond +-18:00")
                offset = dt.timedelta(hours=oh, minutes=om) * (-1 if zone[0] == "-" else 1)
                utc = local.replace(tzinfo=dt.timezone(offset)).astimezone(dt.timezone.utc).replace(tzinfo=None)
        except (ValueError, OverflowError) as e:
            raise Refusal(f"not an instant between years 0001 and 9999 ({e})")
        return utc.replace(tzinfo=dt.timezone.utc) if with_zone else utc
    n = integer_of(v, "epoch microseconds")
    try:
        out = EPOCH + dt.timedelta(microseconds=n)
    except OverflowError:
        raise Refusal(f"{n} microseconds is outside years 0001..9999")
    return out.replace(tzinfo=dt.timezone.utc) if with_zone else out


def to_date(v):
    if isinstance(v, str):
        return from_text(DATE, v, "YYYY-MM-DD", lambda m: dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))), "a calendar date")
    n = integer_of(v, "days since 1970-01-01")
    try:
        return dt.date(1970, 1, 1) + dt.timedelta(days=n)
    except OverflowError:
        raise Refusal(f"{n} days is outside years 0001..9999")


def to_decimal(v, t):
    n = number_of(v)
    if n is None:
        raise Refusal("expected a number")
    sign, digits, exp = decimal.Decimal(n).as_tuple()
    digits = list(digits)
    while digits and digits[-1] == 0:
        digits.pop()
        exp += 1
    if not digits:
        return decimal.Decimal((0, (0,), -t.scale))
    # Beyond these no decimal(38) holds the value (and pyarrow is spared exponents it mishandles).
    if -exp > t.scale:
        raise Refusal(f"{-exp} digits after the point, more than the scale {t.scale}")
    if len(digits) + exp > t.precision - t.scale:
        raise Refusal(f"{len(digits) + exp} digits before the point, more than {t.precision - t.scale}")
    # Exactly `scale` digits after the point; pyarrow checks the precision again.
    return decimal.Decimal((sign, tuple(digits) + (0,) * (exp + t.scale), -t.scale))


def to_float(v, single):
    n = number_of(v)
    if n is None:
        raise Refusal("expected a number")
    # Correctly rounded from the exact decimal (a string through Decimal keeps "-0" negative).
    f = float(decimal.Decimal(v) if isinstance(v, str) else n)
    if single:
        f = pa.array([f], pa.float64()).cast(pa.float32(), safe=False).to_pylist()[0]
    if f in (float("inf"), float("-inf")):
        raise Refusal(f"{n} overflows a {'float' if single else 'double'}", "lossy")
    if f == 0 and decimal.Decimal(n) != 0:
        raise Refusal(f"{n} becomes 0 in a {'float' if single else 'double'}", "lossy")
    return f


def to_binary(v):
    if not isinstance(v, str):
        raise Refusal("expected base64 or hex text")
    tries = [("base64", v, None)]
    if "\n" in v:
        tries.append(("MIME base64", v.replace("\r\n", "").replace("\n", ""), None))
    tries.append(("URL-safe base64", v, b"-_"))
    for _name, text, alt in tries:
        if len(text) % 4 == 0 and (B64_URL if alt else B64).fullmatch(text):
            try:
                return base64.b64decode(text, altchars=alt, validate=True)
            except binascii.Error:
                pass
    if HEX.fullmatch(v):
        return binascii.unhexlify(v)
    raise Refusal("not basic, MIME or URL-safe base64, nor hex")


def convert(t, v):
    """One JSON value -> the Python value pyarrow gets for an Iceberg type; raises Refusal."""
    if isinstance(t, BooleanType):
        if isinstance(v, bool):
            return v
        if v in ("true", "false"):
            return v == "true"
        if isinstance(v, int) and v in (0, 1):
            return v == 1
        raise Refusal('expected true, false, "true", "false", 1 or 0')
    if isinstance(t, (IntegerType, LongType)):
        n = integer_of(v, "an integer")
        lo, hi = INT_RANGE["int" if isinstance(t, IntegerType) else "long"]
        if not lo <= n <= hi:
            raise Refusal(f"{n} is outside {lo}..{hi}")
        return n
    if isinstance(t, (FloatType, DoubleType)):
        return to_float(v, isinstance(t, FloatType))
    if isinstance(t, DecimalType):
        return to_decimal(v, t)
    if isinstance(t, StringType):
        if not isinstance(v, str):
            raise Refusal("expected a string")
        return v
    if isinstance(t, (BinaryType, FixedType)):
        b = to_binary(v)
        if isinstance(t, FixedType) and len(b) != len(t):
            raise Refusal(f"{len(b)} bytes, not {len(t)}")
        return b
    if isinstance(t, UUIDType):
        if not (isinstance(v, str) and UUID_RE.fullmatch(v)):
            raise Refusal("expected a UUID 8-4-4-4-12")
        return uuid.UUID(v).bytes
    if isinstance(t, DateType):
        return to_date(v)
    if isinstance(t, TimeType):
        return to_time(v)
    if isinstance(t, (TimestampType, TimestamptzType)):
        return to_datetime(v, isinstance(t, TimestamptzType))
    raise Refusal(f"type {t} is not converted here")


def row_of(schema, text):
    """(row, ignored fields) or raises Refusal with a column."""
    try:
        doc = parse_document(text)
    except (ValueError, RecursionError) as e:
        raise Refusal(f"not a JSON document ({e})") from None
    if not isinstance(doc, dict):
        raise Refusal("not a JSON object")
    names = {f.name for f in schema.fields}
    lower = {f.name.lower(): f.name for f in schema.fields}
    ignored = []
    for k in doc:
        if k in names:
            continue
        if k.lower() in lower:
            e = Refusal(f"field {k!r} differs from column {lower[k.lower()]!r} only in letter case")
            e.column = lower[k.lower()]
            raise e
        ignored.append(k)
    row = {}
    for f in schema.fields:
        v = doc.get(f.name)
        try:
            if v is None:
                if f.required:
                    raise Refusal("required, but the document has no value")
                row[f.name] = None
            else:
                row[f.name] = convert(f.field_type, v)
        except Refusal as e:
            e.column = f.name
            raise
        except (ValueError, OverflowError) as e:  # e.g. an integer text beyond Python's 4300 digits
            r = Refusal(f"{type(e).__name__}: {e}")
            r.column = f.name
            raise r from None
    return row, ignored


def render(table):
    """Scanned Arrow table -> JSON-ready rows (see the module doc for the rendering)."""
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_timestamp(t) or pa.types.is_time64(t):
            cols[name] = pc.cast(col, pa.int64()).to_pylist()
        else:
            cols[name] = col.to_pylist()
    out = []
    for i in range(table.num_rows):
        row = {}
        for name, values in cols.items():
            v = values[i]
            if isinstance(v, decimal.Decimal):
                v = format(v, "f")
            elif isinstance(v, (bytes, bytearray)):
                v = base64.b64encode(v).decode("ascii")
            elif isinstance(v, dt.date):
                v = v.isoformat()
            elif isinstance(v, uuid.UUID):
                v = str(v)
            row[name] = v
        out.append(row)
    return out


def land(catalog, spec):
    namespace, name = spec["namespace"], spec["name"]
    fields = [NestedField(i + 1, f["Name"], iceberg_type(f["Type"]), required=bool(f.get("Required", False)))
              for i, f in enumerate(spec["schemaFieldList"])]
    if (namespace,) not in catalog.list_namespaces():
        catalog.create_namespace(namespace)
    table = catalog.create_table(f"{namespace}.{name}", schema=Schema(*fields))
    arrow_schema = schema_to_pyarrow(table.schema())
    verdicts, accepted, indexes = [], [], []
    for i, text in enumerate(spec["documents"]):
        try:
            row, ignored = row_of(table.schema(), text)
        except Refusal as e:
            verdicts.append({"index": i, "accepted": False, "column": getattr(e, "column", None), "kind": e.kind, "reason": e.reason})
            continue
        try:
            # pyarrow, with the Arrow schema pyiceberg writes: ranges, precision, UTF-8, nulls in required columns.
            one = pa.Table.from_pylist([row], schema=arrow_schema)
            one.validate(full=True)
            for f in table.schema().fields:
                if f.required and one.column(f.name).null_count:
                    raise ValueError(f"column {f.name!r} is required but null")
        except (pa.ArrowException, ValueError, TypeError, OverflowError, UnicodeError) as e:
            bad = None
            for f in table.schema().fields:
                try:
                    pa.array([row[f.name]], type=arrow_schema.field(f.name).type)
                except Exception:  # noqa: BLE001 - attribute the failure to its column
                    bad = f.name
                    break
            verdicts.append({"index": i, "accepted": False, "column": bad, "kind": "refused", "reason": f"pyarrow: {type(e).__name__}: {e}"})
            continue
        verdicts.append({"index": i, "accepted": True, "ignored": ignored})
        accepted.append(row)
        indexes.append(i)
    batch = pa.Table.from_pylist(accepted, schema=arrow_schema)
    if accepted:
        table.append(batch)
    loaded = catalog.load_table(f"{namespace}.{name}")
    scanned = loaded.scan().to_arrow()
    if scanned.num_rows != len(accepted) or (accepted and not scanned.equals(batch)):
        raise SystemExit(f"iceberg_tables.py: the scan of {namespace}.{name} is not the appended rows ({scanned.num_rows} of {len(accepted)})")
    return {
        "identifier": f"{namespace}.{name}",
        "iceberg_schema": [{"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required} for f in loaded.schema().fields],
        "arrow_schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in scanned.schema],
        "verdicts": verdicts,
        "rows": [{"index": i, "values": r} for i, r in zip(indexes, render(scanned))],
        "data_files": len(list(loaded.scan().plan_files())),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", help="input JSON file (default: stdin)")
    args = ap.parse_args()
    spec = json.load(open(args.input, encoding="utf-8") if args.input else sys.stdin)
    with tempfile.TemporaryDirectory(prefix="iceberg-tables-") as d:
        catalog = SqlCatalog("local", uri=f"sqlite:///{d}/catalog.db", warehouse=f"file://{d}/warehouse")
        tables = [land(catalog, t) for t in spec["tables"]]
    out = {"pyiceberg": pyiceberg.__version__, "pyarrow": pa.__version__, "tables": tables}
    sys.stdout.write(json.dumps(out, ensure_ascii=True, allow_nan=False))


if __name__ == "__main__":
    main()
