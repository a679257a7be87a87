#!/usr/bin/python3
"""Measure bounce_parse on the labelled corpus of real bounces.

Run from the repository root (make test-corpus). The corpus is ../shared/bounces
relative to the repository root, or $BOUNCES_DIR. It runs
`build/relayctl bounce-parse --json` over every corpus file in batches, compares with
expected.tsv and prints:

  recipients exact   files whose set of recipients equals the labelled set
                     (rows with an empty reference recipient are left out: the
                     reference could not tell);
  status agreement   labelled rows whose recipient we found with the same status;
                     where the reference holds one of sisimai's own pseudo codes
                     (X.0.9xx, "its guesses", see the corpus README) only the class
                     (2/4/5) can be compared, and is;
  hard/soft          labelled rows whose recipient we found with the same hard/soft;
  non-bounces        auto-replies (rfc3834-*) and feedback reports (arf-*) that we
                     did not take as bounces.

Rows listed in REFERENCE_WRONG are where we judge the reference wrong (the reason
is given); they are reported, counted as misses in the figures above, and shown
separately. The last line is `bounce-corpus: N passed, M failed`, N/M being the
labelled rows matched (or not) on recipient+status+kind (non-bounce rows: matched
when not taken as a bounce). Exits non-zero when a figure falls below its floor.
"""

import csv
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAYCTL = os.path.join(ROOT, "build", "relayctl")
BATCH = 100

# Regression guard: a little below what the parser achieves (percent).
FLOORS = {
    "recipients exact": 95.0,
    "status agreement": 94.0,
    "hard/soft agreement": 87.0,
    "non-bounces rejected": 100.0,
}

# (file, index) -> why we judge the reference wrong there. Keep it short and true.
REFERENCE_WRONG = {
}


def corpus_dir():
    d = os.environ.get("BOUNCES_DIR")
    if not d:
        d = os.path.join(os.path.dirname(ROOT), "shared", "bounces")
    return d


def run_parser(files):
    out = {}
    for i in range(0, len(files), BATCH):
        batch = files[i:i + BATCH]
        p = subprocess.run([RELAYCTL, "bounce-parse", "--json"] + batch,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, errors="replace")
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit("bounce-corpus: relayctl bounce-parse exited %d" % p.returncode)
        for line in p.stdout.splitlines():
            j = json.loads(line)
            out[os.path.basename(j["file"])] = j
    return out


PSEUDO = re.compile(r"^[245]\.0\.9\d\d$")


def status_agrees(ref, got):
    if PSEUDO.match(ref):
        return got[:1] == ref[:1]
    return got == ref


def pct(n, m):
    return 100.0 * n / m if m else 100.0


def main():
    base = corpus_dir()
    cdir = os.path.join(base, "corpus")
    tsv = os.path.join(base, "expected.tsv")
    if not os.path.isdir(cdir) or not os.path.isfile(tsv):
        sys.exit("bounce-corpus: no corpus at %s (set BOUNCES_DIR)" % base)
    if not os.access(RELAYCTL, os.X_OK):
        sys.exit("bounce-corpus: %s missing (run make)" % RELAYCTL)

    rows = {}
    with open(tsv, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.setdefault(r["file"], []).append(r)

    files = sorted(os.listdir(cdir))
    got = run_parser([os.path.join(cdir, n) for n in files])

    rexact = [0, 0]
    status = [0, 0]
    kind = [0, 0]
    nonb = [0, 0]
    msgid = [0, 0]
    passed = failed = 0
    misses = []
    judged = []

    for name in files:
        if name not in rows:
            continue
        j = got.get(name)
        if j is None:
            sys.exit("bounce-corpus: no output for %s" % name)
        exp = rows[name]
        nonbounce = name.startswith("rfc3834-") or name.startswith("arf-")
        if nonbounce:
            nonb[1] += 1
            ok = not j["is_bounce"]
            nonb[0] += ok
            for r in exp:
                if ok:
                    passed += 1
                else:
                    failed += 1
                    misses.append("%s: taken as a bounce (type %s)" % (name, j.get("type")))
            continue

        ours = {r["recipient"].lower(): r for r in j["recipients"]}
        want = {r["recipient"].lower() for r in exp if r["recipient"]}
        if want:
            rexact[1] += 1
            if set(ours) == want:
                rexact[0] += 1
            else:
                misses.append("%s: recipients %s, expected %s" %
                              (name, sorted(ours), sorted(want)))
        ref_ids = {r["original_message_id"] for r in exp if r["original_message_id"]}
        if ref_ids:
            msgid[1] += 1
            msgid[0] += (j.get("message_id") or "") in ref_ids

        for r in exp:
            key = (name, r["index"])
            if r["recipient"]:
                o = ours.get(r["recipient"].lower())
            else:
                # The reference could not tell the recipient: judge the lone one we found.
                o = j["recipients"][0] if len(j["recipients"]) == 1 else None
            st_ok = o is not None and status_agrees(r["status"], o["status"])
            k_ok = o is not None and (o["kind"] == "hard") == (r["hard"] == "true")
            status[1] += 1
            status[0] += st_ok
            kind[1] += 1
            kind[0] += k_ok
            if o is not None and st_ok and k_ok:
                passed += 1
                continue
            failed += 1
            what = "%s#%s %s: got %s, expected %s %s (%s)" % (
                name, r["index"], r["recipient"] or "?",
                "%s %s" % (o["status"], o["kind"]) if o else "nothing",
                r["status"], "hard" if r["hard"] == "true" else "soft", r["reason"])
            if o is not None and "-v" in sys.argv[1:]:
                what += "\n      diag: " + o["diagnostic"][:200]
            if key in REFERENCE_WRONG:
                judged.append("%s\n      why: %s" % (what, REFERENCE_WRONG[key]))
            else:
                misses.append(what)

    figures = [
        ("recipients exact", rexact),
        ("status agreement", status),
        ("hard/soft agreement", kind),
        ("non-bounces rejected", nonb),
    ]
    verbose = "-v" in sys.argv[1:]
    if verbose and misses:
        print("misses:")
        for m in misses:
            print("  " + m)
    if judged:
        print("misses where we judge the reference wrong (%d):" % len(judged))
        for m in judged:
            print("  " + m)
    print("figures over %s:" % base)
    bad = 0
    for label, (n, m) in figures:
        p = pct(n, m)
        low = p < FLOORS[label]
        bad += low
        print("  %-22s %4d/%-4d %6.2f%%%s" % (label, n, m, p,
              "  BELOW FLOOR %.1f%%" % FLOORS[label] if low else ""))
    print("  %-22s %4d/%-4d %6.2f%%  (informative)" % ("original message-id", msgid[0],
          msgid[1], pct(*msgid)))
    if not verbose and misses:
        print("(%d other misses; tests/bounce_corpus.py -v lists them)" % len(misses))
    print("bounce-corpus: %d passed, %d failed" % (passed, failed))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
