#!/usr/bin/python3
"""Measure bounce_parse on the labelled corpus of real bounces.

Run from the repository root (make test-corpus). The corpus is ../shared/bounces
relative to the repository root, or $BOUNCES_DIR. It runs
`build/relayctl bounce-parse --json` over every corpus file in batches, compares with
expected.tsv and prints:

  recipients exact   files whose set of recipients equals the labelled set
                     (rows with an empty reference recipient are left out: the
                     reference could not tell). Where a report gives both, we name
                     the Original-Recipient and the reference the Final-Recipient:
                     either of ours may match (counted on the final-recipient line);
  permanent          labelled rows whose recipient we found with the same
                     permanent/temporary answer as the class of the reference's
                     status (5.x.x permanent, 4.x.x temporary);
  status agreement   labelled rows whose recipient we found with the same status;
                     where the reference holds one of sisimai's own pseudo codes
                     (X.0.9xx, "its guesses", see the corpus README) only the class
                     (2/4/5) can be compared, and is;
  reason agreement   labelled rows whose recipient we found with the reason that
                     REASONS maps the reference's sisimai reason to (rows whose
                     reason has no counterpart are left out);
  hard/soft          labelled rows whose recipient we found with the same hard/soft;
  non-bounces        auto-replies (rfc3834-*), feedback reports (arf-*) and files
                     the reference labels only as feedback/delivered, that we did
                     not take as bounces.

Rows listed in REFERENCE_WRONG are where we judge the reference wrong (the reason
is given); they are reported and shown separately, and each figure is given without
them (the floors apply there) and with them. The original Message-ID line is
informative. The last line says how many figures are below
their floor (it names no rows: a CI log reader takes "N passed, M failed" for a
test runner's closing line). Exits non-zero when a figure falls below its floor.
"""

import csv
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAYCTL = os.environ.get("RELAYCTL") or os.path.join(ROOT, "build", "relayctl")
BATCH = 100

# Regression guard: a little below what the parser achieves (percent, without the
# rows judged wrong in the reference).
FLOORS = {
    "recipients exact": 99.0,
    "permanent agreement": 98.5,
    "status agreement": 98.5,
    "reason agreement": 70.0,
    "hard/soft agreement": 96.0,
    "non-bounces rejected": 100.0,
}

# sisimai's reason names -> bounce_status.c's taxonomy. Reasons with no counterpart
# (feedback, delivered, vacation, onhold, undefined) are not compared.
REASONS = {
    "userunknown": "user_unknown", "mailboxfull": "mailbox_full",
    "expired": "expired", "filtered": "spam_or_content", "rejected": "sender_rejected",
    "blocked": "policy", "hostunknown": "host_unknown", "authfailure": "policy",
    "networkerror": "network_error", "suspend": "mailbox_disabled",
    "requireptr": "policy", "policyviolation": "policy",
    "spamdetected": "spam_or_content", "systemerror": "system_error",
    "notaccept": "not_accept", "securityerror": "policy",
    "mailererror": "system_error", "toomanyconn": "rate_limited",
    "norelaying": "relay_denied", "hasmoved": "has_moved",
    "notcompliantrfc": "spam_or_content", "mesgtoobig": "too_large",
    "exceedlimit": "too_large", "badreputation": "policy",
    "virusdetected": "spam_or_content", "syntaxerror": "system_error",
    "contenterror": "spam_or_content", "speeding": "rate_limited",
    "systemfull": "system_error", "failedstarttls": "policy",
}

# (file, index) -> why we judge the reference wrong there. Grouped by reason; every
# row was read by hand. Rows listed here still count as misses in the raw figures.
_WHY = {
    "USER_UNKNOWN": (
        "the remote says the user is unknown at RCPT time (or the notice does not say "
        "when); the reference's 'filtered'/'suspend'/'rejected' is sisimai's per-MTA guess "
        "that such replies come after DATA. Nothing in the message says so: the address is "
        "gone (hard), as the issue defines it"),
    "RCPT_EXPLICIT": (
        "'550 user unknown (in reply to RCPT TO command)': refused at RCPT, the address is "
        "gone; the reference's 'suspend' is a provider guess"),
    "S521": (
        "5.2.1 (mailbox disabled) with 'User Unknown' or 'account disabled/inactive': the "
        "issue defines 5.2.1 as hard (address gone); the reference calls it "
        "suspend/filtered"),
    "TEMP": (
        "a 450 4.1.1 is a temporary reply (Postfix soft_bounce-style); a temporary failure "
        "never suppresses an address, so soft"),
    "DELAY": (
        "the report says Action: delayed (a delay warning, not a failure) with a 4.x.x "
        "status; the reference gives it a permanent 5.x class (and 'hard' for 'No MX' "
        "while the MTA is still retrying)"),
    "WRONG_ROW": (
        "the label belongs to another recipient or reason: the message gives this "
        "recipient '552 5.2.2 Mailbox full' (qmail-25) / '550 5.1.1 User Unknown' "
        "(rfc3464-01, labelled mailboxfull)"),
    "LIST_SERVER": (
        "a mailing-list server's reply (fml: the poster is not a member), not a "
        "delivery failure: the issue counts list-server replies as never bounces"),
    "DSN_OVER_TEXT": (
        "the machine-readable report (Final-Recipient) names another address than the "
        "human-readable text; we follow the report, the reference the text"),
    "SAME_CODE": (
        "Status and Diagnostic-Code both say 4.4.7; the reference's 4.4.1 is not in the "
        "message"),
}
_ROWS = {
    "USER_UNKNOWN": [
        "lhost-amazonses-02.eml#1",
        "lhost-apachejames-01.eml#1",
        "lhost-courier-02.eml#1",
        "lhost-exchange2003-04.eml#1",
        "lhost-mailfoundry-01.eml#1",
        "lhost-mcafee-01.eml#1",
        "lhost-mcafee-04.eml#1",
        "lhost-messagingserver-03.eml#1",
        "lhost-messagingserver-03.eml#2",
        "lhost-messagingserver-08.eml#1",
        "lhost-mfilter-01.eml#1",
        "lhost-mfilter-03.eml#1",
        "lhost-mxlogic-03.eml#1",
        "lhost-postfix-07.eml#1",
        "lhost-surfcontrol-01.eml#1",
        "lhost-x1-01.eml#1",
        "lhost-x1-02.eml#1",
        "lhost-x2-01.eml#1",
        "lhost-x2-02.eml#1",
        "lhost-x2-02.eml#3",
        "lhost-yahoo-06.eml#1",
        "lhost-zoho-03.eml#1",
        "rfc3464-35.eml#3",
        "rfc3464-42.eml#1",
        "rfc3464-57.eml#1",
        "rhost-gsuite-08.eml#1",
        "lhost-sendmail-27.eml#1",
        "lhost-sendmail-48.eml#1",
    ],
    "RCPT_EXPLICIT": [
        "lhost-ezweb-02.eml#1",
    ],
    "S521": [
        "lhost-amazonses-20.eml#1",
        "lhost-amazonworkmail-02.eml#1",
        "lhost-messagingserver-06.eml#1",
        "lhost-powermta-01.eml#1",
        "lhost-powermta-03.eml#1",
        "lhost-sendmail-02.eml#2",
        "lhost-zoho-02.eml#1",
        "rhost-google-01.eml#1",
        "rhost-google-07.eml#1",
    ],
    "TEMP": [
        "lhost-postfix-05.eml#1",
    ],
    "DELAY": [
        "lhost-opensmtpd-06.eml#1",
        "lhost-opensmtpd-12.eml#1",
        "lhost-opensmtpd-15.eml#1",
        "lhost-opensmtpd-16.eml#1",
        "lhost-gmail-08.eml#1",
    ],
    "WRONG_ROW": [
        "lhost-qmail-25.eml#1",
        "rfc3464-01.eml#1",
    ],
    "LIST_SERVER": [
        "lhost-fml-02.eml#1",
        "lhost-fml-03.eml#1",
    ],
    "DSN_OVER_TEXT": [
        "lhost-domino-03.eml#1",
    ],
    "SAME_CODE": [
        "lhost-exchange2007-05.eml#1",
    ],
}
REFERENCE_WRONG = {tuple(r.split("#")): _WHY[k] for k, rs in _ROWS.items() for r in rs}
# Files whose recipient set we judge the reference wrong on: the notice names both
# failed recipients, the reference keeps one (qmail-25); and the rows above.
RECIPIENTS_WRONG = {"lhost-qmail-25.eml", "lhost-fml-02.eml", "lhost-fml-03.eml",
                    "lhost-domino-03.eml"}
# Reference reasons that say the message is not a failure: a file labelled only with
# these (an SES complaint or delivery notice, a success DSN) counts as a non-bounce.
NOT_FAILURE = {"feedback", "delivered", "vacation"}


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
        # Others' data, kept outside the repository: a plain clone has none. Only a
        # corpus asked for by name must be there.
        if os.environ.get("BOUNCES_DIR"):
            sys.exit("bounce-corpus: no corpus at %s (BOUNCES_DIR)" % base)
        print("bounce-corpus: skipped, no corpus at %s (set BOUNCES_DIR to run it)" % base)
        return
    if not os.access(RELAYCTL, os.X_OK):
        sys.exit("bounce-corpus: %s missing (run make)" % RELAYCTL)
    verbose = "-v" in sys.argv[1:]

    rows = {}
    with open(tsv, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.setdefault(r["file"], []).append(r)

    files = sorted(os.listdir(cdir))
    got = run_parser([os.path.join(cdir, n) for n in files])

    # Each figure: [agree, total, judged] where judged counts the disagreements on
    # rows we judge the reference wrong on.
    fig = {k: [0, 0, 0] for k in FLOORS}
    msgid = [0, 0]
    via_final = [0]
    misses = []
    judged = {}

    def count(label, ok, key=None):
        fig[label][1] += 1
        if ok:
            fig[label][0] += 1
        elif key is not None:
            fig[label][2] += 1

    for name in files:
        if name not in rows:
            continue
        j = got.get(name)
        if j is None:
            sys.exit("bounce-corpus: no output for %s" % name)
        exp = rows[name]
        if (name.startswith("rfc3834-") or name.startswith("arf-") or
                all(r["reason"] in NOT_FAILURE for r in exp)):
            ok = not j["is_bounce"]
            count("non-bounces rejected", ok)
            if not ok:
                misses.append("%s: taken as a bounce (type %s)" % (name, j.get("type")))
            continue

        want = {r["recipient"].lower() for r in exp if r["recipient"]}
        # Where a report has both, we name the Original-Recipient (the address as it
        # was sent, RFC 3464 2.3.1) and keep Final-Recipient as a field; the
        # reference names the Final-Recipient. Either one of ours matches.
        ours = {}
        for o in j["recipients"]:
            k = o["recipient"].lower()
            fin = (o.get("final_recipient") or "").lower()
            if k not in want and fin in want:
                k = fin
                via_final[0] += 1
            ours[k] = o
        if want:
            ok = set(ours) == want
            count("recipients exact", ok, name if name in RECIPIENTS_WRONG else None)
            if not ok:
                what = "%s: recipients %s, expected %s" % (name, sorted(ours), sorted(want))
                if name in RECIPIENTS_WRONG:
                    why = REFERENCE_WRONG.get((name, "1"), "the notice names more failed "
                                              "recipients than the reference keeps")
                    judged.setdefault(why, []).append(name)
                else:
                    misses.append(what)
        ref_ids = {r["original_message_id"] for r in exp if r["original_message_id"]}
        if ref_ids:
            msgid[1] += 1
            msgid[0] += (j.get("message_id") or "") in ref_ids

        for r in exp:
            key = (name, r["index"])
            wrong = key if key in REFERENCE_WRONG else None
            if r["recipient"]:
                o = ours.get(r["recipient"].lower())
            else:
                # The reference could not tell the recipient: judge the lone one we found.
                o = j["recipients"][0] if len(j["recipients"]) == 1 else None
            checks = [
                ("status agreement", o is not None and status_agrees(r["status"],
                                                                     o["status"])),
                ("hard/soft agreement", o is not None and
                 (o["kind"] == "hard") == (r["hard"] == "true")),
            ]
            if r["status"][:1] in ("4", "5"):
                checks.append(("permanent agreement", o is not None and
                               o["permanent"] == (r["status"][:1] == "5")))
            if r["reason"] in REASONS:
                checks.append(("reason agreement", o is not None and
                               o["reason"] == REASONS[r["reason"]]))
            bad_fields = []
            for label, ok in checks:
                count(label, ok, wrong)
                if not ok:
                    bad_fields.append(label.split()[0])
            if not bad_fields:
                continue
            what = "%s#%s %s: [%s] got %s, expected %s %s %s (%s)" % (
                name, r["index"], r["recipient"] or "?", ",".join(bad_fields),
                "%s %s %s %s" % (o["status"], "perm" if o["permanent"] else "temp",
                                 o["reason"], o["kind"]) if o else "nothing",
                r["status"], "hard" if r["hard"] == "true" else "soft",
                REASONS.get(r["reason"], "-"), r["reason"])
            if o is not None and verbose:
                what += "\n      diag: " + o.get("diagnostic", "?")[:200]
            if wrong:
                judged.setdefault(REFERENCE_WRONG[key], []).append("%s#%s" % key)
            else:
                misses.append(what)

    if verbose and misses:
        print("misses:")
        for m in misses:
            print("  " + m)
    if judged:
        print("misses where we judge the reference wrong (tests/bounce_corpus.py "
              "REFERENCE_WRONG):")
        for why, keys in judged.items():
            print("  - %s:" % why)
            print("      " + " ".join(sorted(set(keys))))
    print("figures over %s:" % base)
    bad = 0
    for label in FLOORS:
        n, m, w = fig[label]
        p = pct(n, m - w)
        low = p < FLOORS[label]
        bad += low
        adj = "" if not w else "   (%d/%d %.2f%% with the %d judged rows)" % (
            n, m, pct(n, m), w)
        print("  %-22s %4d/%-4d %6.2f%%%s%s" % (label, n, m - w, p,
              "  BELOW FLOOR %.1f%%" % FLOORS[label] if low else "", adj))
    print("  %-22s %4d/%-4d %6.2f%%  (informative)" % ("original message-id", msgid[0],
          msgid[1], pct(*msgid)))
    print("  %-22s %4d  (informative: recipients matched by their Final-Recipient)" % (
        "final-recipient", via_final[0]))
    if not verbose and misses:
        print("(%d other misses; tests/bounce_corpus.py -v lists them)" % len(misses))
    print("bounce-corpus: %d figures, %d below floor" % (len(FLOORS), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
