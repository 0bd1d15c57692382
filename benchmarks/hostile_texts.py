"""Text edge cases, hostile ids and special files for hostile_review.py (see hostile_inputs.py)."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from hostile_inputs import BOMB_RSS_MIB, SINGLE_READ, Input, Maker, _csv, _npy_bytes

HOSTILE_IDS = {
    "clear": "\x1b[2J\x1b[Hclear",  # clear the screen, cursor home
    "title": "\x1b]0;pwned\x07title",  # set the window title
    "conceal": "\x1b[8mhidden\x1b[0m",  # concealed text
    "u2028": "line\u2028sep",
    "u2029": "para\u2029sep",
    "cr": "carriage\rreturn",
    "lf": "line\nfeed",
    "comma": "comma,id",
    "quote": 'quote"id',
    "tab": "tab\tid",
    "bidi": "\u202eevil",  # right-to-left override
    "del": "del\x7fid",
    "c1": "csi\x9b2Jid",  # C1 control (CSI) in Unicode
}


def texts(m: Maker) -> None:
    b = np.round(m.base(6, 3), 6)
    t = "text"
    ok = lambda name, text, note, **kw: m.text(name, text, t, note, "ok", b, **kw)  # noqa: E731
    ok("csv_plain.csv", _csv(b), "plain CSV, no header")
    ok("csv_header.csv", _csv(b, header=["a", "b", "c"]), "CSV with a header")
    ids = [f"id{i}" for i in range(6)]
    ok("csv_header_ids.csv", _csv(b, ids=ids, header=["id", "a", "b", "c"]), "header and an id column", ids=ids)
    ok("csv_ids_noheader.csv", _csv(b, ids=ids), "an id column, no header", ids=ids)
    ok("tsv_plain.tsv", _csv(b, "\t"), "TSV")
    ok("txt_spaces.txt", _csv(b, "  "), "whitespace-separated .txt")
    ok("csv_crlf.csv", _csv(b).replace("\n", "\r\n"), "CRLF line ends")
    ok("csv_bom_header.csv", "\ufeff" + _csv(b, header=["a", "b", "c"]), "UTF-8 BOM before a header")
    ok("csv_bom_numbers.csv", "\ufeff" + _csv(b), "UTF-8 BOM before numbers")
    ok("csv_comments.csv", "# made by hand\n" + _csv(b[:3]) + "# middle\n" + _csv(b[3:]), "# comment lines")
    ok("csv_capital_e.csv", _csv(b).replace("e-", "E-"), "exponents with capital E")
    plain = _csv(b).splitlines()
    first = "1,2,x\n3,4,5\n6,7,8\n"
    m.text("csv_1_2_x.csv", first, t, "first row '1,2,x' (the issue's n=2 case)")
    m.text("csv_first_empty_cell.csv", "1,,3\n" + "\n".join(plain[1:]) + "\n", t, "first row with an empty cell")
    m.text("csv_first_hex.csv", "0x1F,2,3\n" + "\n".join(plain[1:]) + "\n", t, "first row with a hex cell")
    m.text("csv_first_nul.csv", "\x00,2,3\n" + "\n".join(plain[1:]) + "\n", t, "first row with a NUL cell")
    m.text("csv_underscore.csv", "\n".join(plain[:2]) + "\n1_000,2,3\n" + "\n".join(plain[3:]) + "\n", t, "a '1_000' cell")
    m.text("csv_first_underscore.csv", "1_000,2,3\n" + "\n".join(plain[1:]) + "\n", t, "first row with '1_000'")
    for name, digit in (("arabic", "\u0661\u0662"), ("fullwidth", "\uff11\uff12"), ("superscript", "\u00b2")):
        m.text(f"csv_{name}_digits.csv", "\n".join(plain[:3]) + f"\n{digit},2,3\n" + "\n".join(plain[4:]) + "\n",
               t, f"non-ASCII digits ({name}) in row 4")
    for cell in ("nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400"):
        m.text(f"csv_cell_{cell}.csv", "\n".join(plain[:2]) + f"\n{cell},2,3\n" + "\n".join(plain[3:]) + "\n", t, f"a '{cell}' cell")
    tiny = b.copy()
    tiny[2, 0] = 0.0
    m.text("csv_cell_1e-400.csv", "\n".join(plain[:2]) + "\n1e-400," + plain[2].split(",", 1)[1] + "\n"
           + "\n".join(plain[3:]) + "\n", t, "a '1e-400' cell (rounds to 0)", "either", tiny)
    m.text("csv_bare_cr.csv", _csv(b).replace("\n", "\r"), t, "bare CR line ends", "either", b)
    m.text("csv_quoted.csv", "\n".join(",".join(f'"{c}"' for c in line.split(",")) for line in plain) + "\n", t,
           "every number quoted", "either", b)
    m.text("csv_spaces.csv", "\n".join(" , ".join(line.split(",")) for line in plain) + "\n", t, "spaces around cells", "either", b)
    m.text("csv_plus.csv", "\n".join(",".join(("+" + c if not c.startswith("-") else c) for c in line.split(",")) for line in plain)
           + "\n", t, "leading '+' signs", "either", b)
    m.text("csv_trailing_comma.csv", "\n".join(line + "," for line in plain) + "\n", t, "trailing comma on every row", "either", b)
    m.text("csv_blank_lines.csv", "\n\n".join(plain) + "\n", t, "blank lines between rows", "either", b)
    m.text("csv_ragged.csv", "\n".join(plain[:3]) + "\n1,2\n" + "\n".join(plain[4:]) + "\n", t, "a row with 2 of 3 cells")
    m.text("csv_semicolons.csv", _csv(b).replace(",", ";"), t, "';'-separated .csv")
    m.text("csv_tabs.csv", _csv(b).replace(",", "\t"), t, "tab-separated .csv", "either", b)
    m.text("csv_empty.csv", "", t, "empty file")
    m.text("csv_header_only.csv", "a,b,c\n", t, "a header and no rows")
    m.text("csv_whitespace.csv", "  \n\n \n", t, "only blank lines")
    m.text("csv_long_number.csv", "1" * 200_000 + ",2,3\n" + "\n".join(plain[1:]) + "\n", t,
           "a 200,000-digit number (over 131,072 characters)")
    long_id = "x" * 200_000
    m.text("csv_long_id.csv", _csv(b, ids=[long_id] + ids[1:]), t, "a 200,000-character id", "ok", b, ids=[long_id] + ids[1:])
    m.text("csv_5000_digits.csv", "\n".join(plain[:2]) + "\n" + "9" * 5000 + ",2,3\n" + "\n".join(plain[3:]) + "\n", t,
           "a 5,000-digit integer cell")
    wide = np.round(m.base(3, 20_000), 4)
    m.text("csv_20k_columns.csv", _csv(wide), t, "3 rows x 20,000 columns", "ok", wide)
    m.raw("csv_latin1.csv", "h\xe9,b,c\n".encode("latin-1") + _csv(b).encode(), t, "Latin-1 header (not UTF-8)", "either", b)
    big = np.array([[1e300, -1e300, 5e299], [1e-320, 3e-321, 1e-310]])
    m.text("csv_extremes.csv", _csv(big), t, "1e300 and subnormal values in CSV", "ok", big)
    _json(m, b, ids)


def _json(m: Maker, b: np.ndarray, ids) -> None:
    t = "text"
    rows = b.tolist()
    m.text("json_lists.json", json.dumps(rows), t, "JSON list of lists", "ok", b)
    objs = [{"id": i, "embedding": r} for i, r in zip(ids, rows)]
    m.text("json_objects.json", json.dumps(objs), t, "JSON objects with id and embedding", "ok", b, ids=ids)
    m.text("jsonl_lists.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n", t, "JSONL bare lists", "ok", b)
    m.text("jsonl_vector_key.ndjson", "\n".join(json.dumps({"id": i, "vector": r}) for i, r in zip(ids, rows)) + "\n", t,
           "NDJSON with 'vector'", "ok", b, ids=ids)
    m.text("json_deep.json", "[" * 100_000 + "]" * 100_000, t, "100,000 nested lists")
    m.text("jsonl_deep.jsonl", "[" * 100_000 + "1" + "]" * 100_000 + "\n", t, "JSONL line nested 100,000 deep")
    m.text("json_nested_3d.json", json.dumps([[[1.0, 2.0]], [[3.0, 4.0]]]), t, "3-d nested lists")
    m.text("json_5000_digits.json", "[[" + "9" * 5000 + ", 1.0], [1.0, 2.0]]", t, "a 5,000-digit integer")
    m.text("json_400_digits.json", "[[" + "9" * 400 + ", 1.0], [1.0, 2.0]]", t, "a 400-digit integer (over float range)")
    for token in ("NaN", "Infinity", "-Infinity"):
        m.text(f"json_{token.strip('-').lower()}{'_neg' if token.startswith('-') else ''}.json",
               f"[[{token}, 1.0], [1.0, 2.0]]", t, f"JSON token {token}")
    m.text("json_1e400.json", "[[1e400, 1.0], [1.0, 2.0]]", t, "1e400 literal")
    m.text("json_strings.json", '[["1", "2"], ["3", "4"]]', t, "numbers as strings")
    m.text("json_null.json", "[[null, 1.0], [1.0, 2.0]]", t, "a null component")
    m.text("json_bools.json", "[[true, false], [false, true]]", t, "booleans", "either", np.array([[1.0, 0.0], [0.0, 1.0]]))
    m.text("json_top_object.json", '{"embedding": [1.0, 2.0]}', t, "a top-level object", "either", np.array([1.0, 2.0]))
    m.text("json_empty_list.json", "[]", t, "an empty list")
    m.text("json_ragged.json", "[[1.0, 2.0], [1.0]]", t, "ragged lists")
    m.text("json_no_embedding.json", '[{"id": "a", "emb": [1.0]}]', t, "objects without an embedding key")
    m.text("json_trailing.json", json.dumps(rows) + " garbage", t, "garbage after the value")
    m.raw("json_invalid_utf8.json", b"[[1.0, 2.0], [3.0, 4.0]]\xff\xfe", t, "invalid UTF-8 bytes")
    m.raw("json_utf16.json", json.dumps(rows).encode("utf-16"), t, "UTF-16 with BOM", "either", b)
    m.text("jsonl_blank_lines.jsonl", "\n\n".join(json.dumps(r) for r in rows) + "\n", t, "blank lines in JSONL", "either", b)
    m.text("jsonl_bad_line.jsonl", "\n".join(json.dumps(r) for r in rows[:3]) + "\n{oops\n", t, "a broken 4th line")
    m.text("jsonl_mixed_dims.jsonl", "[1.0, 2.0]\n[1.0, 2.0, 3.0]\n", t, "lines of different lengths")
    m.text("jsonl_numeric_ids.jsonl", "\n".join(json.dumps({"id": i, "embedding": r}) for i, r in enumerate(rows)) + "\n", t,
           "numeric ids", "either", b)
    m.text("json_duplicate_keys.json", '[{"id": "a", "embedding": [1.0, 2.0], "embedding": [3.0, 4.0]}]', t,
           "a duplicated key (the last wins in Python)", "either", np.array([3.0, 4.0]))


def hostile_ids(m: Maker) -> None:
    names = list(HOSTILE_IDS)
    ids = [HOSTILE_IDS[k] for k in names]
    n = len(ids)
    b = np.round(m.base(n, 4), 6)
    g = "ids"
    m.text("ids_all.jsonl", "\n".join(json.dumps({"id": i, "embedding": r}) for i, r in zip(ids, b.tolist())) + "\n", g,
           "JSONL, every hostile id", "ok", b, ids=ids)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("embeddings.npy", _npy_bytes(b))
        z.writestr("ids.npy", _npy_bytes(np.array(ids)))
    m.raw("ids_all.npz", buf.getvalue(), g, ".npz ids array, every hostile id", "ok", b, ids=ids)
    quoted = [i for i in ids if "\x00" not in i]
    csv_text = "".join('"' + i.replace('"', '""') + '",' + ",".join(repr(float(x)) for x in r) + "\n" for i, r in zip(quoted, b))
    m.text("ids_all.csv", csv_text, g, "CSV id column, every hostile id (quoted)", "either", b, ids=quoted)
    for key in ("clear", "title", "u2028", "cr", "comma", "quote", "tab", "c1"):
        vals = b[:3]
        row_ids = [HOSTILE_IDS[key] + str(j) for j in range(3)]
        m.text(f"ids_{key}.jsonl", "\n".join(json.dumps({"id": i, "embedding": r}) for i, r in zip(row_ids, vals.tolist())) + "\n",
               g, f"JSONL ids with {key}", "ok", vals, ids=row_ids)


def special(m: Maker, folder) -> None:
    b = np.round(m.base(6, 3), 6)
    s = "special"
    csv_bytes = _csv(b).encode()
    m.add(Input("/dev/zero", s, "/dev/zero (no suffix)", "error", max_rss_mib=BOMB_RSS_MIB))
    for fmt in ("npy", "csv", "json"):
        m.add(Input("/dev/zero", s, f"/dev/zero --input-format {fmt}", "error", args=["--input-format", fmt],
                    max_rss_mib=BOMB_RSS_MIB))
    m.add(Input("/dev/null", s, "/dev/null --input-format csv", "error", args=["--input-format", "csv"]))
    os.mkfifo(folder / "fifo.csv")
    m.add(Input("fifo.csv", s, "a FIFO named .csv, a writer sending valid CSV", "either", b, fifo=csv_bytes, commands=SINGLE_READ))
    os.mkfifo(folder / "fifo_zero.npy")
    m.add(Input("fifo_zero.npy", s, "a FIFO named .npy, a writer sending 64 MiB of zeros", "error", fifo=bytes(64 * 2**20),
                commands=SINGLE_READ))
    (folder / "dir.npy").mkdir()
    m.add(Input("dir.npy", s, "a directory named .npy", "error"))
    m.add(Input("missing.npy", s, "a file that does not exist", "error"))
    (folder / "noext").write_bytes(_npy_bytes(b))
    m.add(Input("noext", s, "a .npy file without a suffix", "error"))
    (folder / "data.bin").write_bytes(_npy_bytes(b))
    m.add(Input("data.bin", s, "unknown suffix .bin", "error"))
    (folder / "upper.NPY").write_bytes(_npy_bytes(b))
    m.add(Input("upper.NPY", s, "suffix .NPY in capitals", "either", b))
    (folder / "target.npy").write_bytes(_npy_bytes(b))
    os.symlink("target.npy", folder / "link.npy")
    m.add(Input("link.npy", s, "a symlink to a valid .npy", "ok", b))
    os.symlink("nowhere.npy", folder / "broken_link.npy")
    m.add(Input("broken_link.npy", s, "a dangling symlink", "error"))
    os.symlink("loop_b.npy", folder / "loop_a.npy")
    os.symlink("loop_a.npy", folder / "loop_b.npy")
    m.add(Input("loop_a.npy", s, "a symlink loop", "error"))
    for fmt, data, note in (("csv", csv_bytes, "CSV"), ("jsonl", "\n".join(json.dumps(r) for r in b.tolist()).encode(), "JSONL")):
        m.add(Input("-", s, f"stdin, {note}, --input-format {fmt}", "ok", b, args=["--input-format", fmt], stdin=data,
                    commands=SINGLE_READ))
    m.add(Input("-", s, "stdin, .npy bytes, sniffed", "ok", b, stdin=_npy_bytes(b), commands=SINGLE_READ))
    m.add(Input("-", s, "stdin, CSV, sniffed", "ok", b, stdin=csv_bytes, commands=SINGLE_READ))
    m.add(Input("-", s, "stdin, empty", "error", stdin=b"", commands=SINGLE_READ))
    m.add(Input("-", s, "stdin, binary garbage", "error", stdin=bytes(range(256)) * 64, commands=SINGLE_READ))
