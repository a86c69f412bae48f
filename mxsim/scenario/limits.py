"""What a scenario may ask of the loader, checked before the work each limit bounds.

Scenario files come from other people (a CI job replays the files of a pull request), so
loading one must end quickly with a one-line error, whatever the file says:

- `MAX_FILE_BYTES`, 1 MiB, for a scenario file and for each zone file it names. The
  bundled scenarios are at most 7 KB; 1 MiB of YAML is read in about a second, and no
  more text than that reaches the YAML or zone-file parsers.
- `MAX_NESTING`, 32 levels of YAML collections. The format nests six deep (servers,
  server, backends, backend, aa, rd); the YAML composer recurses once per level.
- `MAX_RRSET_BYTES`, 65535 octets: an RRset must fit in one DNS message over TCP
  (RFC 1035 §4.2.2, a two-octet length), with the header, its question and an EDNS OPT
  record (RFC 6891). A server cannot send a bigger answer at all.
- `MAX_RRSET_RECORDS`, 1,000 records in one RRset, counted while the zone is read so the
  reader stops before it spends more. BIND refuses more than 100 by default
  (`max-records-per-type`, since 9.18.28); other servers send as many as fit in 65535
  octets, which for small records is about 4,000. The reader's cost grows with the square
  of an RRset's size, so mxsim stops at ten times BIND's default.
- `MAX_RECORDS`, 10,000 records in all zones and answers of one scenario (so at most that
  many names in a zone). Reading a record costs about 0.1 ms, and every world built from
  the scenario (one per MTA profile, and per replay run) copies its zones; the bundled
  scenarios hold at most 60 records. A per-zone limit would not bound a file of many
  zones, so the budget is the scenario's. A `$GENERATE` range is counted before it is
  expanded.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1 << 20
MAX_NESTING = 32
MAX_RRSET_BYTES = 65535
MAX_RRSET_RECORDS = 1000
MAX_RECORDS = 10_000
