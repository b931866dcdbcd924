#!/usr/bin/env python3
"""Reads objects the way a Glue table declares them: the stand-in for Athena in test/integration/catalog.test.ts.

    catalog_read.py REQUEST.json     prints ONE JSON document {"files": [{"path", "rows", "hive"}]} or {"error"}

REQUEST: {"serde": {"library", "parameters"}, "parameters": {table parameters}, "columns": [{"name", "type"}],
"files": [{"path": local file, "root": the table's location on disk}]}. Each file is read with exactly the declared
columns (names and Hive types) by the reader that stands in for the table's SerDe, and fails if it cannot:

    OpenX JSON SerDe    DuckDB read_json, newline-delimited, columns given (no inference), compression from the extension
    OpenCSVSerde        DuckDB read_csv, columns given, no sniffing, the table's quote/separator, header per skip.header.line.count
    RegexSerDe          Python re.fullmatch of input.regex per line (a line that does not match is a row of NULLs)
    AvroSerDe           fastavro with avro.schema.literal as the reader schema (schema resolution), and each
                        declared column's type checked against the field's
    ParquetHiveSerDe    DuckDB read_parquet, each declared column found by name (case-insensitive, as Athena) with a
                        type that is the declared one

"hive" holds the partition values DuckDB's hive_partitioning reads from the file's path below "root" (None for the
readers that are not DuckDB's). Values: str, int (as str beyond 2^53), float, bool, None, datetime/date as ISO text,
bytes as {"b64": …}, lists and dicts as JSON.
"""
import base64
import datetime as dt
import gzip
import io
import json
import os
import re
import sys

import duckdb
import fastavro


def split_top(text):
    """Splits 'a:int,b:struct<c:int,d:string>' at top-level commas."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


PRIMITIVE = {
    "string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE", "float": "FLOAT",
    "boolean": "BOOLEAN", "timestamp": "TIMESTAMP", "date": "DATE", "binary": "BLOB",
}


def duck_type(hive):
    hive = hive.strip()
    if hive in PRIMITIVE:
        return PRIMITIVE[hive]
    if hive.startswith("array<") and hive.endswith(">"):
        return duck_type(hive[6:-1]) + "[]"
    if hive.startswith("struct<") and hive.endswith(">"):
        fields = []
        for f in split_top(hive[7:-1]):
            name, typ = f.split(":", 1)
            fields.append('"%s" %s' % (name, duck_type(typ)))
        return "STRUCT(%s)" % ", ".join(fields)
    raise ValueError("no DuckDB type for Hive type %r" % hive)


def plain(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2 ** 53 else str(v)
    if isinstance(v, float):
        return v
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b64": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return str(v)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def duck_rows(con, query, names):
    cur = con.execute(query)
    cols = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        rec = dict(zip(cols, row))
        out.append(rec)
    return out


def split_hive(rows, names):
    """Rows of the declared columns, and the partition values hive_partitioning added."""
    data, hive = [], []
    for r in rows:
        data.append({n: plain(r[n]) for n in names})
        hive.append({k: plain(v) for k, v in r.items() if k not in names})
    return data, hive


def decompressed(path):
    with open(path, "rb") as f:
        raw = f.read()
    # "Athena determines the compression type from the file extension" (Athena user guide, compression formats).
    if path.endswith(".gz"):
        return gzip.decompress(raw)
    if path.endswith(".zst"):
        from backports import zstd
        return zstd.decompress(raw)
    return raw


def read_json(con, req, path):
    names = [c["name"] for c in req["columns"]]
    cols = ", ".join("%s: %s" % (sql_str(c["name"]), sql_str(duck_type(c["type"]))) for c in req["columns"])
    q = ("SELECT * FROM read_json(%s, format='newline_delimited', columns={%s}, compression='auto', "
         "hive_partitioning=true, hive_types_autocast=false, maximum_object_size=268435456)") % (sql_str(path), cols)
    return split_hive(duck_rows(con, q, names), names)


def read_csv(con, req, path):
    p = req["serde"]["parameters"]
    names = [c["name"] for c in req["columns"]]
    cols = ", ".join("%s: %s" % (sql_str(c["name"]), sql_str(duck_type(c["type"]))) for c in req["columns"])
    header = req["parameters"].get("skip.header.line.count") == "1"
    q = ("SELECT * FROM read_csv(%s, columns={%s}, header=%s, auto_detect=false, delim=%s, quote=%s, escape='\"', "
         "new_line='\\r\\n', allow_quoted_nulls=false, compression='auto', hive_partitioning=true, hive_types_autocast=false)") % (
        sql_str(path), cols, "true" if header else "false", sql_str(p.get("separatorChar", ",")), sql_str(p.get("quoteChar", '"')))
    return split_hive(duck_rows(con, q, names), names)


def read_regex(req, path):
    pattern = re.compile(req["serde"]["parameters"]["input.regex"], re.DOTALL)
    names = [c["name"] for c in req["columns"]]
    rows = []
    # TextInputFormat splits at \n, \r and \r\n.
    for line in re.split(r"\r\n|\r|\n", decompressed(path).decode("utf-8")):
        rows.append(line)
    if rows and rows[-1] == "":
        rows.pop()
    out = []
    for line in rows:
        m = pattern.fullmatch(line)
        out.append({n: (m.group(i + 1) if m and i < len(m.groups()) else None) for i, n in enumerate(names)})
    return out, None


AVRO_FOR_HIVE = {
    "string": ("string", None), "bigint": ("long", None), "int": ("int", None), "double": ("double", None),
    "float": ("float", None), "boolean": ("boolean", None), "binary": ("bytes", None), "date": ("int", "date"),
}


def avro_kind(t):
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        return avro_kind(non_null[0]) if len(non_null) == 1 else ("union", None)
    if isinstance(t, dict):
        return (t.get("type"), t.get("logicalType"))
    return (t, None)


def read_avro(req, path):
    literal = json.loads(req["serde"]["parameters"]["avro.schema.literal"])
    reader_schema = fastavro.parse_schema(literal)
    by_name = {f["name"].lower(): f for f in literal["fields"]}
    for c in req["columns"]:
        f = by_name.get(c["name"])
        if f is None:
            raise ValueError("column %s is not a field of avro.schema.literal" % c["name"])
        kind = avro_kind(f["type"])
        if c["type"] == "timestamp":
            ok = kind == ("long", "timestamp-millis")
        elif c["type"] == "bigint":
            ok = kind in (("long", None), ("long", "timestamp-micros"))  # Hive's Avro SerDe ignores timestamp-micros
        else:
            ok = kind == AVRO_FOR_HIVE.get(c["type"])
        if not ok:
            raise ValueError("column %s %s does not read Avro field type %r" % (c["name"], c["type"], f["type"]))
    rows = []
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh, reader_schema=reader_schema)
        for rec in reader:
            rows.append({c["name"]: plain(rec[by_name[c["name"]]["name"]]) for c in req["columns"]})
    return rows, None


PARQUET_OK = {"TIMESTAMP": ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE")}


def read_parquet(con, req, path):
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(%s)" % sql_str(path)).fetchall()
    file_cols = {row[0].lower(): (row[0], row[1]) for row in described}
    select = []
    for c in req["columns"]:
        found = file_cols.get(c["name"])
        if found is None:
            raise ValueError("column %s is not in the file (columns: %s)" % (c["name"], [r[0] for r in described]))
        want = duck_type(c["type"])
        if found[1] not in PARQUET_OK.get(want, (want,)):
            raise ValueError("column %s is %s in the file, declared %s (%s)" % (c["name"], found[1], c["type"], want))
        select.append('"%s" AS "%s"' % (found[0].replace('"', '""'), c["name"]))
    names = [c["name"] for c in req["columns"]]
    q = "SELECT %s, * EXCLUDE (%s) FROM read_parquet(%s, hive_partitioning=true, hive_types_autocast=false)" % (
        ", ".join(select), ", ".join('"%s"' % file_cols[c["name"]][0] for c in req["columns"]), sql_str(path))
    return split_hive(duck_rows(con, q, names), names)


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        req = json.load(f)
    lib = req["serde"]["library"]
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    files = []
    for spec in req["files"]:
        path = spec["path"]
        try:
            if lib == "org.openx.data.jsonserde.JsonSerDe":
                rows, hive = read_json(con, req, path)
            elif lib == "org.apache.hadoop.hive.serde2.OpenCSVSerde":
                rows, hive = read_csv(con, req, path)
            elif lib == "org.apache.hadoop.hive.serde2.RegexSerDe":
                rows, hive = read_regex(req, path)
            elif lib == "org.apache.hadoop.hive.serde2.avro.AvroSerDe":
                rows, hive = read_avro(req, path)
            elif lib == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe":
                rows, hive = read_parquet(con, req, path)
            else:
                raise ValueError("no stand-in reader for SerDe %s" % lib)
        except Exception as err:  # a file a declared table cannot read is a result, reported with its path
            print(json.dumps({"error": "%s: %s: %s" % (os.path.relpath(path, spec.get("root", "/")), type(err).__name__, err)}))
            return 0
        files.append({"path": path, "rows": rows, "hive": hive})
    print(json.dumps({"files": files}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
