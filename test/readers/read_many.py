#!/usr/bin/env python3
"""Independent readers for MANY objects the sink wrote, in one process (test/support/hostile.ts drives it).

    read_many.py DIR        reads DIR/manifest.json and the files it names, prints ONE JSON document
    read_many.py --serve    reads one JSON request per stdin line ({"dir": DIR}), answers one JSON line each

It shares no code with the TypeScript writers. Per object, every reader that applies runs on its own, and each
reports {"ok": true, ...} or {"ok": false, "error": "..."}; a reader failing is a result, not a crash:

    jsonl             python-json (json.loads per line), duckdb-json (read_json on the decompressed file)
    csv*              python-csv (csv module, strict), duckdb-csv (read_csv on the decompressed file, all_varchar)
    text              python-split (split at b"\\n"), python-splitlines (str.splitlines: what line readers do)
    bytes             python-split (split at the separator: values are joined by it)
    avro              fastavro (plain fastavro.reader, default logical types)
    parquet           pyarrow (read_table + to_pylist), duckdb-parquet (read_parquet)
    deadletter        python-json (json.loads per line)

Decompression happens here (gzip: gzip.decompress; zstd: backports.zstd, every frame), so no reader depends on
the writer's codec library. The readers are given generous size limits (csv field size, DuckDB object size),
nothing else: a reader's default behaviour is what a user gets.

Values are rendered as TAGGED JSON, so the TypeScript side can compare exactly: str -> JSON string, None -> null,
bool -> true/false, {"i": "<int>"}, {"f": "<repr of float>"}, {"n": "<JSON number source text>"},
{"y": "<base64>"}, {"t": "<microseconds since the epoch>"} (datetimes), {"d": "<days>"} (dates),
{"dec": "<str>"}, {"a": [...]} (lists), {"o": [[key, value], ...]} (dicts). The output is written by an iterative
encoder, so values nested thousands of levels deep do not hit Python's recursion limit after they were read.
"""
import base64
import csv
import datetime as dt
import decimal
import gzip
import io
import json
import os
import sys
import traceback

EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
EPOCH_NAIVE = dt.datetime(1970, 1, 1)
EPOCH_DATE = dt.date(1970, 1, 1)


class Num:
    """A JSON number as its source text (json.loads' parse_int / parse_float hook)."""
    __slots__ = ("src",)

    def __init__(self, src):
        self.src = src


class Tagged:
    """Marks a value to be written in the tagged rendering (see the module doc)."""
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


class Tok(str):
    """Raw output text."""


def reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def micros(v):
    if isinstance(v, dt.datetime):
        base = EPOCH_UTC if v.tzinfo is not None else EPOCH_NAIVE
        d = v - base
        return d.days * 86_400_000_000 + d.seconds * 1_000_000 + d.microseconds
    raise TypeError(type(v).__name__)


def encode(root):
    """Iterative JSON encoder: plain values as JSON, Tagged(...) subtrees in the tagged rendering."""
    out = []
    stack = [(root, False)]
    while stack:
        v, tagged = stack.pop()
        if type(v) is Tok:
            out.append(v)
            continue
        if type(v) is Tagged:
            stack.append((v.v, True))
            continue
        if v is None:
            out.append("null")
        elif v is True:
            out.append("true")
        elif v is False:
            out.append("false")
        elif isinstance(v, str):
            out.append(json.dumps(v))
        elif isinstance(v, Num):
            out.append('{"n":' + json.dumps(v.src) + "}")
        elif isinstance(v, int):
            out.append('{"i":"%d"}' % v if tagged else "%d" % v)
        elif isinstance(v, float):
            out.append('{"f":' + json.dumps(repr(v)) + "}" if tagged else json.dumps(v))
        elif isinstance(v, (bytes, bytearray, memoryview)):
            out.append('{"y":"' + base64.b64encode(bytes(v)).decode("ascii") + '"}')
        elif isinstance(v, dt.datetime):
            out.append('{"t":"%d"}' % micros(v))
        elif isinstance(v, dt.date):
            out.append('{"d":"%d"}' % (v - EPOCH_DATE).days)
        elif isinstance(v, decimal.Decimal):
            out.append('{"dec":' + json.dumps(str(v)) + "}")
        elif isinstance(v, dict):
            items = list(v.items())
            if tagged:
                out.append('{"o":[')
                stack.append((Tok("]}"), False))
                for i in range(len(items) - 1, -1, -1):
                    k, x = items[i]
                    stack.append((Tok("]"), False))
                    stack.append((x, True))
                    stack.append((Tok("[" + json.dumps(str(k)) + ","), False))
                    if i > 0:
                        stack.append((Tok(","), False))
            else:
                out.append("{")
                stack.append((Tok("}"), False))
                for i in range(len(items) - 1, -1, -1):
                    k, x = items[i]
                    stack.append((x, False))
                    stack.append((Tok(json.dumps(str(k)) + ":"), False))
                    if i > 0:
                        stack.append((Tok(","), False))
        elif isinstance(v, (list, tuple)):
            out.append('{"a":[' if tagged else "[")
            stack.append((Tok("]}" if tagged else "]"), False))
            for i in range(len(v) - 1, -1, -1):
                stack.append((v[i], tagged))
                if i > 0:
                    stack.append((Tok(","), False))
        else:
            raise TypeError(f"cannot render {type(v).__name__}")
    return "".join(out)


def error_text(e):
    text = f"{type(e).__name__}: {e}"
    return text if len(text) <= 600 else text[:600] + "..."


def attempt(fn):
    try:
        result = fn()
        result["ok"] = True
        return result
    except RecursionError as e:
        return {"ok": False, "error": error_text(e)}
    except Exception as e:  # noqa: BLE001 - a reader's failure is the result
        return {"ok": False, "error": error_text(e)}


# ------------------------------------------------------------------------------------------------ helpers

def decompress(data, compression):
    if compression in (None, "none"):
        return data
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zstd":
        from backports import zstd  # decompresses every frame (Node's zlib reads only the first)

        return zstd.decompress(data)
    raise ValueError(f"unknown compression {compression!r}")


def terminated(data, sep):
    """Records each followed by `sep` (jsonl, text, dead letters)."""
    if data == b"":
        return []
    parts = data.split(sep)
    if parts[-1] == b"":
        parts.pop()
    return parts


def sql_string(s):
    return "'" + s.replace("'", "''") + "'"


def sql_ident(name):
    return '"' + name.replace('"', '""') + '"'


_duck = None


def duck():
    global _duck
    if _duck is None:
        import duckdb

        _duck = duckdb.connect()
        _duck.execute("SET threads TO 1")
    return _duck


# ----------------------------------------------------------------------------------------------- readers

def read_json_lines(data):
    rows = []
    for i, line in enumerate(terminated(data, b"\n"), start=1):
        text = line.decode("utf-8")  # strict
        try:
            rows.append(json.loads(text, parse_int=Num, parse_float=Num, parse_constant=reject_constant))
        except (ValueError, RecursionError) as e:
            raise ValueError(f"line {i}: {error_text(e)}") from e
    return {"count": len(rows), "rows": Tagged(rows)}


def duckdb_json(path):
    con = duck()
    src = f"read_json({sql_string(path)}, format='newline_delimited', sample_size=-1, maximum_object_size=1073741824)"
    rows = con.execute(f"SELECT * FROM {src}").fetchall()
    names = [d[0] for d in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    out = {"count": len(rows), "columns": names}
    if "offset" in names:
        out["offsets"] = Tagged([r[0] for r in con.execute(f'SELECT "offset" FROM {src}').fetchall()])
    return out


def python_csv(data, header):
    text = data.decode("utf-8")  # strict
    csv.field_size_limit(sys.maxsize)
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    out = {"count": len(rows) - (1 if header and rows else 0)}
    if header:
        if not rows:
            raise ValueError("no header row")
        out["header"] = rows[0]
        rows = rows[1:]
    out["rows"] = Tagged(rows)
    return out, rows


def duckdb_csv(path, header, python_rows, header_names):
    """DuckDB reads the file with the CSV dialect stated (RFC 4180, all columns VARCHAR): its sniffer is not under
    test. With a header row, a second read lets DuckDB take the names from the file (as `SELECT * FROM 'x.csv'`
    does) and resolves every column by its name; if DuckDB cannot sniff the file, that check is skipped."""
    con = duck()
    width = len(header_names) if header and header_names is not None else (len(python_rows[0]) if python_rows else 1)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(max(width, 1))) + "}"
    # strict_mode=false: DuckDB 2.0.1's strict mode mis-splits CRLF files with line breaks inside quoted fields
    # (rows lost under header=true); the values are compared with Python's csv module instead.
    dialect = "delim=',', quote='\"', escape='\"', allow_quoted_nulls=false, strict_mode=false, null_padding=false, max_line_size=1073741824"
    src = f"read_csv({sql_string(path)}, auto_detect=false, columns={columns}, header={'true' if header else 'false'}, {dialect})"
    rows = con.execute(f"SELECT * FROM {src}").fetchall()
    out = {"count": len(rows), "rows": Tagged([list(r) for r in rows])}
    if header and header_names:
        # Every column resolved by its own name must hold that column's values (case-insensitive engines
        # resolve `_kafka_offset` to `_KAFKA_offset` when both exist).
        named = f"read_csv({sql_string(path)}, header=true, all_varchar=true, {dialect})"
        select = ", ".join(sql_ident(n) for n in header_names)
        try:
            con.execute(f"SELECT * FROM {named} LIMIT 1").fetchall()
        except Exception as e:  # noqa: BLE001 - the sniffer is not under test
            out["resolution_skipped"] = error_text(e)
            return out
        resolved = con.execute(f"SELECT {select} FROM {named}").fetchall()
        out["resolution"] = compare_columns(header_names, [tuple(r) for r in rows], resolved, csv_cells=False)
    return out


def compare_columns(names, expected_rows, got_rows, csv_cells=False):
    """Names whose resolved values differ from the values at their own position."""
    problems = []
    if len(expected_rows) != len(got_rows):
        return [{"name": "*", "detail": f"{len(got_rows)} rows resolved, {len(expected_rows)} expected"}]
    for j, name in enumerate(names):
        for i, (e, g) in enumerate(zip(expected_rows, got_rows)):
            ev = e[j] if j < len(e) else None
            gv = g[j]
            same = ev == gv or (csv_cells and gv is None and ev == "")
            if not same:
                problems.append({"name": name, "detail": f"row {i}: {gv!r:.80} instead of {ev!r:.80}"})
                break
    return problems


def read_text(data, sep):
    parts = terminated(data, sep)
    for i, p in enumerate(parts, start=1):
        p.decode("utf-8")  # strict
    return {"count": len(parts), "rows": Tagged(parts)}


def read_splitlines(data):
    lines = data.decode("utf-8").splitlines()
    return {"count": len(lines)}


def read_joined(data, sep):
    parts = data.split(sep) if sep else [data]
    return {"count": len(parts), "rows": Tagged(parts)}


def read_avro(data):
    import fastavro

    reader = fastavro.reader(io.BytesIO(data))
    rows = [dict(r) for r in reader]
    schema = reader.writer_schema
    fields = [f["name"] for f in schema.get("fields", [])] if isinstance(schema, dict) else []
    return {"count": len(rows), "columns": fields, "rows": Tagged(rows)}


def read_parquet(path):
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    table = pf.read()
    rows = table.to_pylist()
    return {"count": len(rows), "num_rows": pf.metadata.num_rows, "columns": table.column_names,
            "rows": Tagged(rows)}, table


def duckdb_parquet(path, table):
    con = duck()
    src = f"read_parquet({sql_string(path)})"
    rows = con.execute(f"SELECT * FROM {src}").fetchall()
    out = {"count": len(rows)}
    if table is not None and table.num_columns > 0:
        names = table.column_names
        select = ", ".join(sql_ident(n) for n in names)
        resolved = con.execute(f"SELECT {select} FROM {src}").fetchall()
        expected = list(zip(*[c.to_pylist() for c in table.columns]))
        out["resolution"] = compare_columns(names, expected, resolved)
    return out


# ---------------------------------------------------------------------------------------------- dispatch

def read_object(base, spec):
    path = os.path.join(base, spec["file"])
    fmt = spec["format"]
    readers = {}
    if fmt == "parquet":
        state = {}

        def pa_read():
            result, table = read_parquet(path)
            state["table"] = table
            return result

        readers["pyarrow"] = attempt(pa_read)
        readers["duckdb-parquet"] = attempt(lambda: duckdb_parquet(path, state.get("table")))
        return readers
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = decompress(raw, spec.get("compression"))
    except Exception as e:  # noqa: BLE001
        return {"decompress": {"ok": False, "error": error_text(e)}}
    if fmt == "avro":
        readers["fastavro"] = attempt(lambda: read_avro(data))
        return readers
    if fmt in ("jsonl", "deadletter"):
        readers["python-json"] = attempt(lambda: read_json_lines(data))
        if fmt == "jsonl":
            plain = path + ".plain"
            with open(plain, "wb") as f:
                f.write(data)
            readers["duckdb-json"] = attempt(lambda: duckdb_json(plain))
        return readers
    if fmt in ("csv", "csv_with_headers"):
        header = fmt == "csv_with_headers"
        state = {}

        def py_csv():
            result, rows = python_csv(data, header)
            state["rows"] = rows
            state["header"] = result.get("header")
            return result

        readers["python-csv"] = attempt(py_csv)
        plain = path + ".plain"
        with open(plain, "wb") as f:
            f.write(data)
        readers["duckdb-csv"] = attempt(lambda: duckdb_csv(plain, header, state.get("rows", []), state.get("header")))
        return readers
    sep = bytes.fromhex(spec.get("separator", "0a"))
    if fmt == "text":
        readers["python-split"] = attempt(lambda: read_text(data, b"\n"))
        readers["python-splitlines"] = attempt(lambda: read_splitlines(data))
        return readers
    if fmt == "bytes":
        readers["python-split"] = attempt(lambda: read_joined(data, sep))
        return readers
    raise ValueError(f"unknown format {fmt!r}")


def read_dir(base):
    with open(os.path.join(base, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    objects = []
    for spec in manifest["objects"]:
        objects.append({"file": spec["file"], "readers": read_object(base, spec)})
    return {"objects": objects}


def main(argv):
    if argv and argv[0] == "--serve":
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                doc = read_dir(json.loads(line)["dir"])
            except Exception as e:  # noqa: BLE001 - answer, keep serving
                doc = {"error": error_text(e), "trace": traceback.format_exc()[-2000:]}
            sys.stdout.write(encode(doc))
            sys.stdout.write("\n")
            sys.stdout.flush()
        return
    if len(argv) != 1:
        print("usage: read_many.py DIR | read_many.py --serve", file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(encode(read_dir(argv[0])))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
