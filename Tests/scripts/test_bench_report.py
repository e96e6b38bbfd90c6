"""Tests of scripts/bench.py's report, on a saved samples file, and of the
table and the timing machinery it runs (no uploadverify binary needed).

    python3 -B -m unittest discover -s Tests/scripts

The expectations were worked out by hand from fixtures/bench-samples.tsv;
the comments show the arithmetic.
"""
import contextlib
import importlib.util
import io
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "bench-samples.tsv"


def load_bench():
    sys.dont_write_bytecode = True  # no scripts/__pycache__
    spec = importlib.util.spec_from_file_location("bench", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = load_bench()


class ReportOnSavedSamples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.samples = bench.parse_samples(FIXTURE.read_text())
        cls.text = bench.report(cls.samples)
        table = bench.results_table(cls.samples)
        cls.columns = table[0]
        cls.rows = {row[0]: dict(zip(table[0], map(str, row))) for row in table[1:]}
        cls.summaries = {s.info.name: s for s in bench.summarize(cls.samples)}

    def line_of(self, name, contains=""):
        lines = [line for line in self.text.splitlines() if line.split()[:1] == [name] and contains in line]
        self.assertEqual(len(lines), 1, f"one line for {name} with {contains!r}: {lines}")
        return lines[0]

    def test_results_keep_bench_sh_columns_first(self):
        self.assertEqual(self.columns[:18], [
            "pair", "bytes", "rounds", "ours_median_s", "peer_median_s", "median_ratio",
            "ours_gib_s", "peer_gib_s", "ours_peak_rss_mib", "peer_peak_rss_mib",
            "target_ratio", "time_verdict", "rss_verdict", "ours_cmd", "peer_cmd",
            "ours_median_cpu_s", "peer_median_cpu_s", "cpu_includes_servers"])

    def test_ratio_is_the_median_of_per_round_ratios(self):
        # verify-map, rounds (listed out of order in the file) matched by number:
        #   round 1: 1.0 / 4.0 = 0.25; round 2: 3.0 / 2.0 = 1.5; round 3: 2.0 / 1.0 = 2.0
        # median of the ratios 1.5; the ratio of the medians would be 2.0 / 2.0 = 1.0.
        row = self.rows["verify-map"]
        self.assertEqual(row["median_ratio"], "1.500")
        self.assertEqual(row["ours_median_s"], "2.000")
        self.assertEqual(row["peer_median_s"], "2.000")
        self.assertEqual((row["ratio_min"], row["ratio_max"]), ("0.250", "2.000"))
        self.assertEqual(self.summaries["verify-map"].ratios, [0.25, 1.5, 2.0])

    def test_time_target_and_rss_limit(self):
        # 1.5 > 1.0: FAIL; peak RSS max(30720, 40960, 20480) KiB = 40.0 MiB < 64: PASS.
        row = self.rows["verify-map"]
        self.assertEqual((row["target_ratio"], row["time_verdict"], row["rss_verdict"]), ("1.0", "FAIL", "PASS"))
        self.assertEqual(row["ours_peak_rss_mib"], "40.0")
        self.assertEqual(row["peer_peak_rss_mib"], "10.0")
        self.assertIn("FAIL time: median ratio 1.500 > 1.00 vs xxhsum; PASS RSS: 40.0 MiB < 64",
                      self.line_of("verify-map", "time:"))
        # map: no target; 71680 KiB = 70.0 MiB >= 64 fails the RSS limit.
        self.assertEqual((self.rows["map"]["time_verdict"], self.rows["map"]["rss_verdict"]), ("info", "FAIL"))
        self.assertIn("info: 0.800x the time of openssl (no target); FAIL RSS: 70.0 MiB >= 64",
                      self.line_of("map", "info:"))
        # Rows without an RSS limit (a server's client) carry none.
        self.assertEqual(self.rows["receive-3x8MiB"]["rss_verdict"], "-")

    def test_ratio_equal_to_target_passes(self):
        # upload-3x8MiB: 5/4 = 1.25, 4/5 = 0.8, 6/2 = 3.0 -> median 1.25 <= 1.25.
        self.assertEqual(self.rows["upload-3x8MiB"]["median_ratio"], "1.250")
        self.assertEqual(self.rows["upload-3x8MiB"]["time_verdict"], "PASS")

    def test_gib_per_second_uses_the_row_size(self):
        # 1 GiB in a median 2.0 s: 0.50 GiB/s; the server-CPU row moved 0.5 GiB in 1.0 s.
        self.assertEqual(self.rows["verify-map"]["ours_gib_s"], "0.50")
        self.assertEqual(self.rows["map"]["peer_gib_s"], "0.40")  # 1 / 2.5
        self.assertEqual(self.rows["server-cpu-per-GiB"]["ours_gib_s"], "0.50")

    def test_cpu_counts_servers_and_gives_the_floor(self):
        # upload-3x8MiB counts its servers: ours 3+5, 3+4, 3+6 = 8, 7, 9 -> median 8.0;
        # peer 1+2, 1+1, 1+3 = 3, 2, 4 -> median 3.0; peer's median time median(4, 5, 2) = 4.0.
        # Floor: 8.0 CPU s on 2 cores >= 4.00 s, 4.00 / 4.0 = 1.00x.
        row = self.rows["upload-3x8MiB"]
        self.assertEqual((row["ours_median_cpu_s"], row["peer_median_cpu_s"]), ("8.000", "3.000"))
        self.assertEqual((row["ours_median_server_cpu_s"], row["peer_median_server_cpu_s"]), ("5.000", "2.000"))
        self.assertEqual(row["cpu_includes_servers"], "True")
        self.assertIn("CPU s per run, client + server (medians): ours 8.00, peer 3.00; on 2 cores ours needs "
                      ">= 4.00 s, 1.00x the peer's median time: the least ratio this machine allows",
                      self.line_of("upload-3x8MiB", "CPU s per run"))
        # Without servers, only the command's own CPU: verify-map 0.9, 2.9, 1.9 -> 1.9.
        self.assertEqual(self.rows["verify-map"]["ours_median_cpu_s"], "1.900")
        self.assertEqual(self.rows["verify-map"]["cpu_includes_servers"], "False")
        self.assertEqual(len([l for l in self.text.splitlines() if "CPU s per run" in l]), 1)

    def test_server_cpu_per_gib(self):
        # Server CPU only; 0.5 GiB per round. Ours 1.0, 1.2, 0.8 s, peer 0.5, 0.4, 0.4 s:
        # per round 2.0, 3.0, 2.0 -> median 2.0 (the ratio of the medians would be 2.5);
        # per GiB: median 1.0 / 0.5 = 2.0 s, 0.4 / 0.5 = 0.8 s.
        row = self.rows["server-cpu-per-GiB"]
        self.assertEqual((row["metric"], row["metric_ratio"]), ("server-cpu", "2.000"))
        self.assertEqual((row["ours_metric"], row["peer_metric"]), ("2.000", "0.800"))
        self.assertEqual(row["median_ratio"], "1.000")  # wall time: 1 s each side
        self.assertEqual(row["verdict"], "info")
        self.assertIn("ours 2.000 s, peer 0.800 s (medians); median per-round ratio 2.000, spread 2.00-3.00",
                      self.text)

    def test_memory_per_request_in_flight(self):
        # VmHWM 102400, 153600, 128000 KiB over 500 requests, idle 25600 KiB: above idle
        # 153.6, 256.0, 204.8 KiB -> median 204.8 <= 256: PASS. Idle included: 204.8, 307.2, 256.0 -> 256.0.
        row = self.rows["mem-per-request"]
        self.assertEqual((row["ours_metric"], row["verdict"], row["target_ratio"]), ("204.800", "PASS", "256.0"))
        self.assertEqual((row["peer_median_s"], row["median_ratio"]), ("-", "-"))
        self.assertIn("PASS memory: median 204.8 KiB per chunk request in flight <= 256",
                      self.line_of("mem-per-request"))
        self.assertIn("median 204.8 KiB (rounds: 153.6, 256.0, 204.8), target <= 256 KiB: PASS; peak RSS / 500, "
                      "idle server included: median 256.0 KiB", self.text)

    def test_sha256_pass_row_against_the_repair_rounds_rsync(self):
        # openssl 2.4, 2.4, 1.8 s against rsync 1.5, 1.6, 1.2 s: 1.6, 1.5, 1.5 -> 1.5, reported.
        self.assertEqual(self.rows["sha256-pass"]["median_ratio"], "1.500")
        self.assertEqual(self.rows["sha256-pass"]["target_ratio"], "-")
        self.assertIn("info: 1.500x the time of rsync (no target)", self.line_of("sha256-pass", "info:"))
        # repair-1MiB: 3.0/1.5 = 2.0, 2.0/1.6 = 1.25, 2.4/1.2 = 2.0 -> 2.0 > 1.25.
        self.assertIn("FAIL time: median ratio 2.000 > 1.25 vs rsync", self.line_of("repair-1MiB", "time:"))

    def test_baseline_pair(self):
        # 3.1/3.0, 3.2/3.0, 2.9/3.0 = 1.033, 1.067, 0.967 -> 1.033 <= 1.05.
        self.assertEqual(self.rows["base/receive-3x8MiB"]["median_ratio"], "1.033")
        self.assertIn("PASS time: median ratio 1.033 <= 1.05 vs the baseline", self.line_of("base/receive-3x8MiB",
                                                                                             "time:"))

    def test_notes(self):
        self.assertIn("bytes over the wire per repair round (ours = server body bytes received, chunk PUTs + "
                      "block writes; rsync = total bytes sent; 3 damaged bytes far apart):\n"
                      "  repair-1MiB round 1: ours 3145728, rsync 460000\n"
                      "  repair-1MiB round 2: ours 3145728, rsync 470000", self.text)
        # 61952 KiB // 1024 = 60 MiB.
        self.assertIn("server peak RSS over the receive-3x8MiB rounds: 60 MiB (target < 100 MiB)", self.text)

    def test_pairs_without_samples_are_left_out(self):
        self.assertNotIn("latency-c3-vs-c1", self.rows)
        self.assertNotIn("latency-c3-vs-c1", self.text)

    def test_a_results_file_is_refused(self):
        with self.assertRaises(bench.BenchError):
            bench.parse_samples("pair\tbytes\trounds\nverify-map\t1\t3\n")


# repair-3-bytes (time, against openssl) and the joined repair-3-bytes-wire
# (wire bytes, against rsync), as run_group writes them: the wire row's ours
# run is the repair's, copied; its notes are the server's body bytes, the
# client's --json counts and rsync's total bytes sent.
BLOCK_REPAIR_SAMPLES = """# uploadverify bench samples v1
meta\tbytes\t4294967296
meta\trounds\t3
pair\trepair-3-bytes\t1.1\ttime\t0\t4294967296\t-\tuploadverify repair $URL --from $DATA --json\topenssl dgst -sha256 $WORK/srv/ID
pair\trepair-3-bytes-wire\t0.1\twire-bytes\t0\t4294967296\t-\tthe repair-3-bytes rounds' repair\trsync --inplace --no-whole-file --stats $DATA rsync://127.0.0.1:18935/bench/data.bin
run\trepair-3-bytes\t1\tours\t2200000\t20000\t2000000\t-\t-
run\trepair-3-bytes\t1\tpeer\t2000000\t4000\t1900000\t-\t-
run\trepair-3-bytes-wire\t1\tours\t2200000\t20000\t2000000\t-\t-
note\trepair-3-bytes-wire\t1\twire_bytes_ours\t196608
note\trepair-3-bytes-wire\t1\tbytes_moved\t196608
note\trepair-3-bytes-wire\t1\tblocks_moved\t3
note\trepair-3-bytes-wire\t1\tchunks_moved\t3
run\trepair-3-bytes-wire\t1\tpeer\t4000000\t4000\t3000000\t-\t-
note\trepair-3-bytes-wire\t1\twire_bytes_rsync\t2000000
run\trepair-3-bytes\t2\tours\t2100000\t20000\t2000000\t-\t-
run\trepair-3-bytes\t2\tpeer\t2000000\t4000\t1900000\t-\t-
run\trepair-3-bytes-wire\t2\tours\t2100000\t20000\t2000000\t-\t-
note\trepair-3-bytes-wire\t2\twire_bytes_ours\t393216
note\trepair-3-bytes-wire\t2\tbytes_moved\t393216
note\trepair-3-bytes-wire\t2\tblocks_moved\t6
note\trepair-3-bytes-wire\t2\tchunks_moved\t3
run\trepair-3-bytes-wire\t2\tpeer\t4200000\t4000\t3000000\t-\t-
note\trepair-3-bytes-wire\t2\twire_bytes_rsync\t1966080
run\trepair-3-bytes\t3\tours\t2400000\t20000\t2000000\t-\t-
run\trepair-3-bytes\t3\tpeer\t2000000\t4000\t1900000\t-\t-
run\trepair-3-bytes-wire\t3\tours\t2400000\t20000\t2000000\t-\t-
note\trepair-3-bytes-wire\t3\twire_bytes_ours\t196608
note\trepair-3-bytes-wire\t3\tbytes_moved\t196608
note\trepair-3-bytes-wire\t3\tblocks_moved\t3
note\trepair-3-bytes-wire\t3\tchunks_moved\t3
run\trepair-3-bytes-wire\t3\tpeer\t4800000\t4000\t3000000\t-\t-
note\trepair-3-bytes-wire\t3\twire_bytes_rsync\t1000000
"""


class BlockRepairReport(unittest.TestCase):
    def setUp(self):
        self.samples = bench.parse_samples(BLOCK_REPAIR_SAMPLES)

    def test_time_against_one_sha256_pass(self):
        # 2.2/2.0 = 1.10, 2.1/2.0 = 1.05, 2.4/2.0 = 1.20 -> 1.10 <= 1.1: PASS.
        text = bench.report(self.samples)
        self.assertIn("repair-3-bytes      PASS time: median ratio 1.100 <= 1.10 vs openssl", text)

    def test_wire_bytes_judged_on_the_median_of_per_round_ratios(self):
        # 196608/2000000 = 0.098304, 393216/1966080 = 0.2, 196608/1000000 = 0.196608 -> 0.196608 > 0.1:
        # FAIL (the ratio of the medians would be 196608/1966080 = 0.1). Medians: ours 196608, rsync 1966080.
        table = bench.results_table(self.samples)
        row = {r[0]: dict(zip(table[0], map(str, r))) for r in table[1:]}["repair-3-bytes-wire"]
        self.assertEqual((row["metric"], row["metric_unit"], row["metric_ratio"], row["verdict"]),
                         ("wire-bytes", "bytes sent per round", "0.197", "FAIL"))
        self.assertEqual((row["ours_metric"], row["peer_metric"]), ("196608.000", "1966080.000"))
        self.assertEqual((row["time_verdict"], row["median_ratio"]), ("info", "0.500"))  # 2.2/4.0, 2.1/4.2, 2.4/4.8
        text = bench.report(self.samples)
        self.assertIn("repair-3-bytes-wire FAIL wire bytes: median ratio 0.197 > 0.10: 0.197x the bytes rsync sent "
                      "(medians: ours 196608, rsync 1966080; spread 0.098-0.200)", text)
        self.assertIn("  repair-3-bytes-wire round 2: ours 393216, rsync 1966080 (the client's bytesMoved 393216, "
                      "blocksMoved 6, chunksMoved 3)", text)

    def test_wire_bytes_within_the_target_pass(self):
        # Rounds 2 and 3 with rsync at 4000000: 196608/2000000, 393216/4000000, 196608/4000000 =
        # 0.098304, 0.098304, 0.049152 -> 0.098304 <= 0.1.
        text = (BLOCK_REPAIR_SAMPLES.replace("wire_bytes_rsync\t1966080", "wire_bytes_rsync\t4000000")
                .replace("wire_bytes_rsync\t1000000", "wire_bytes_rsync\t4000000"))
        s = {x.info.name: x for x in bench.summarize(bench.parse_samples(text))}["repair-3-bytes-wire"]
        self.assertEqual(s.metric_ratios, [0.098304, 0.098304, 0.049152])
        self.assertEqual((s.metric_ratio, s.verdict), (0.098304, "PASS"))

    def test_wire_bytes_without_counts_fail(self):
        # A row with a target that noted no rsync count is not judged a pass.
        text = "\n".join(l for l in BLOCK_REPAIR_SAMPLES.splitlines() if "wire_bytes_rsync" not in l) + "\n"
        samples = bench.parse_samples(text)
        s = {x.info.name: x for x in bench.summarize(samples)}["repair-3-bytes-wire"]
        self.assertEqual((s.metric_ratio, s.verdict), (None, "FAIL"))
        self.assertIn("repair-3-bytes-wire FAIL wire bytes: no round noted both sides' bytes", bench.report(samples))


class Table(unittest.TestCase):
    def test_block_repair_rows(self):
        # Time against one SHA-256 pass of the stored file (<= 1.1x); wire bytes against rsync's (<= 0.1x),
        # in the same rounds, 8 MiB chunks, the rsync daemon's copy made in prepare and removed at the end.
        pairs = {p.name: p for p in bench.TABLE}
        timed, wire = pairs["repair-3-bytes"], pairs["repair-3-bytes-wire"]
        self.assertEqual((timed.target, timed.metric, timed.part, timed.needs, timed.joins),
                         (1.1, "time", "client", ("serve", "rsyncd"), None))
        self.assertEqual((wire.target, wire.metric, wire.joins), (0.1, "wire-bytes", "repair-3-bytes"))
        self.assertEqual(timed.ours.template, "{uv} repair {url_serve} --from {data} --json")
        self.assertEqual(timed.peer.template, "openssl dgst -sha256 {file_serve}")
        self.assertIsInstance(wire.ours, bench.Reuse)
        self.assertEqual((wire.ours.pair, wire.ours.side), ("repair-3-bytes", "ours"))
        self.assertIs(wire.peer, bench.RSYNC_TO_DAEMON)
        self.assertEqual(bench.FLIP_CHUNK, 8 << 20)
        chosen = bench.selected_groups(bench.TABLE, "all", ["repair-3*"], False)
        self.assertEqual([(lead.name, [p.name for p in joined]) for lead, joined in chosen],
                         [("repair-3-bytes", ["repair-3-bytes-wire"])])

    def test_keeps_every_bench_sh_row(self):
        # name: (target, rounds setting), as scripts/bench.sh had them.
        expected = {
            "verify-map": (1.0, "rounds"), "verify-sha": (1.0, "rounds"), "verify-map+sha": (1.0, "rounds"),
            "map": (None, "rounds"), "receive-3x8MiB": (1.25, "rounds"), "receive-fsync": (None, "rounds"),
            "receive-1x8MiB": (None, "scaling"), "receive-8x8MiB": (None, "scaling"),
            "receive-3x1MiB": (None, "scaling"), "receive-3x64MiB": (None, "scaling"),
            "complete": (None, "rounds"), "audit": (1.0, "rounds"), "upload-3x8MiB": (1.25, "rounds"),
            "latency-c3-vs-c1": (0.5, "scaling"), "latency-c8-vs-c1": (None, "scaling"),
            "repair-1MiB": (1.25, "rounds"), "sha256-pass": (None, "rounds"), "repair-8MiB": (1.25, "rounds"),
        }
        leads = {lead.name: lead for lead, _ in bench.groups_of(bench.TABLE)}
        pairs = {p.name: p for p in bench.TABLE}
        for name, (target, rounds) in expected.items():
            p = pairs[name]
            lead = leads[p.joins] if p.joins else p
            self.assertEqual((p.target, lead.rounds), (target, rounds), name)
        for name in ("server-cpu-per-GiB", "mem-per-request", "base/receive-3x8MiB", "base/complete",
                     "base/audit", "base/upload-3x8MiB", "base/repair-1MiB"):
            self.assertIn(name, pairs)
        self.assertEqual(pairs["mem-per-request"].target, 256.0)
        self.assertTrue(all(p.target == 1.05 for p in bench.TABLE if p.part == "baseline"))

    def test_tus_rows(self):
        # One PATCH at >= 0.9x nginx's rate (<= 1/0.9 its time); tuspy against our own upload, reported.
        pairs = {p.name: p for p in bench.TABLE}
        self.assertEqual({name: (pairs[name].target, pairs[name].part) for name in ("tus-patch-4GiB", "tuspy-8MiB")},
                         {"tus-patch-4GiB": (1 / 0.9, "server"), "tuspy-8MiB": (None, "client")})

    def test_client_side_rows(self):
        # download at >= 0.8x curl's rate (<= 1/0.8 its time); one upload of the folder >= 5x faster than
        # one per file (<= 0.2). Both in the client part, against our server, with its CPU counted.
        pairs = {p.name: p for p in bench.TABLE}
        got = {name: (pairs[name].target, pairs[name].part, pairs[name].needs, pairs[name].add_server_cpu)
               for name in ("download-4GiB", "upload-1000x1MiB-files")}
        self.assertEqual(got, {"download-4GiB": (1 / 0.8, "client", ("serve",), True),
                               "upload-1000x1MiB-files": (0.2, "client", ("serve",), True)})
        self.assertEqual(pairs["upload-1000x1MiB-files"].rounds, "scaling")
        with tempfile.TemporaryDirectory() as tmp, Running.ctx(self, tmp) as ctx:
            self.assertEqual(ctx.size_of(pairs["upload-1000x1MiB-files"].size), 1000 << 20)
            values = dict(ctx.values(), url_serve="http://h/uploads/ID")
            self.assertEqual(pairs["download-4GiB"].ours.argv(values),
                             ["/bin/true", "download", "http://h/uploads/ID", "-o", f"{tmp}/download.bin"])
            self.assertEqual(pairs["download-4GiB"].peer.argv(values),
                             ["curl", "-sf", "-o", f"{tmp}/download.bin", "http://h/uploads/ID/data"])
            ours = pairs["upload-1000x1MiB-files"].ours
            self.assertEqual(ours.argv(values), ["/bin/true", "upload", f"{tmp}/files-1000x1MiB", "--server",
                                                 "http://127.0.0.1:18931"])
            self.assertEqual(ours.environ(values)["XDG_CACHE_HOME"], values["cache"])

    def test_sizes(self):
        self.assertEqual(bench.parse_size("4G"), 4 << 30)
        self.assertEqual(bench.parse_size("256M"), 256 << 20)
        self.assertEqual(bench.parse_size("64MiB"), 64 << 20)
        self.assertEqual(bench.parse_size("1048576"), 1 << 20)
        with self.assertRaises(bench.BenchError):
            bench.parse_size("4GB")


class Running(unittest.TestCase):
    def ctx(self, tmp):
        data = Path(tmp) / "data.bin"
        data.write_bytes(b"x" * 1024)
        return bench.Ctx(Path(tmp), "/bin/true", None, "base", data, "00" * 32, 1 << 20, 3, 2, 1,
                         Path(tmp) / "samples.tsv")

    def test_sides_alternate_round_by_round(self):
        order = []
        side = lambda name: bench.Call(lambda ctx, rnd: order.append((name, rnd)) or {}, name)
        with tempfile.TemporaryDirectory() as tmp:
            with self.ctx(tmp) as ctx, contextlib.redirect_stderr(io.StringIO()):  # its progress line
                bench.run_group(ctx, bench.Pair("p", None, side("A"), side("B"), warm=None), [])
            samples = bench.parse_samples((Path(tmp) / "samples.tsv").read_text())
        self.assertEqual(order, [("A", 1), ("B", 1), ("A", 2), ("B", 2), ("A", 3), ("B", 3)])
        self.assertEqual([(r.round, r.side) for r in samples.runs],
                         [(1, "ours"), (1, "peer"), (2, "ours"), (2, "peer"), (3, "ours"), (3, "peer")])

    def test_a_command_is_measured_by_wait4(self):
        # 64 MiB touched and about 0.2 s of CPU burnt: peak RSS and CPU time come from wait4.
        burn = ("import time; b = bytearray(64 << 20); t = time.process_time()\n"
                "while time.process_time() - t < 0.2: pass")
        cmd = bench.Cmd(f"{sys.executable} -c '{burn}'")
        with tempfile.TemporaryDirectory() as tmp, self.ctx(tmp) as ctx:
            run = bench.measure(ctx, bench.Pair("p", None, cmd, None), 1, "ours", cmd)
        self.assertGreater(run.rss_kib, 64 << 10)
        self.assertGreaterEqual(run.cpu_s, 0.19)
        self.assertGreaterEqual(run.wall_s, run.cpu_s * 0.9)
        self.assertIsNone(run.server_cpu_s)

    def test_peak_rss_is_not_the_bench_process_own(self):
        # exec() folds the forking process's peak RSS into the child's ru_maxrss:
        # commands start from the small spawner, so `true` stays small even
        # when this process has grown by 200 MiB.
        ballast = bytearray(200 << 20)
        ballast[::4096] = b"x" * len(ballast[::4096])
        cmd = bench.Cmd("true")
        with tempfile.TemporaryDirectory() as tmp, self.ctx(tmp) as ctx:
            run = bench.measure(ctx, bench.Pair("p", None, cmd, None), 1, "ours", cmd)
        del ballast
        self.assertLess(run.rss_kib, 32 << 10)

    def test_a_failing_command_stops_the_bench(self):
        cmd = bench.Cmd("false")
        with tempfile.TemporaryDirectory() as tmp, self.ctx(tmp) as ctx:
            with self.assertRaises(bench.BenchError), contextlib.redirect_stderr(io.StringIO()):
                bench.measure(ctx, bench.Pair("p", None, cmd, None), 1, "ours", cmd)

    def test_the_many_files_peer_runs_one_upload_per_file(self):
        # A stand-in uploadverify that logs its arguments and its cache folder, and fails on "bad".
        with tempfile.TemporaryDirectory() as tmp, self.ctx(tmp) as ctx:
            fake = Path(tmp) / "uv"
            fake.write_text('#!/bin/sh\necho "$* $XDG_CACHE_HOME" >>"$(dirname "$0")/calls"\n'
                            'case "$2" in *bad*) exit 3;; esac\n')
            fake.chmod(0o755)
            folder = Path(ctx.vars["files"])
            folder.mkdir()
            for name in ("b.bin", "a.bin", "c.bin"):
                (folder / name).write_bytes(b"x")
            ctx.vars["uv"] = str(fake)
            peer = next(p for p in bench.TABLE if p.name == "upload-1000x1MiB-files").peer
            pair = bench.Pair("p", None, None, peer)  # no server CPU to read
            run = bench.measure(ctx, pair, 1, "peer", peer)
            calls = (Path(tmp) / "calls").read_text().splitlines()
            cache = calls[0].split()[-1]
            self.assertTrue(cache.startswith(f"{tmp}/cache-"), cache)
            self.assertEqual(calls, [f"upload {folder}/{name} --server http://127.0.0.1:18931 {cache}"
                                     for name in ("a.bin", "b.bin", "c.bin")])
            self.assertGreater(run.wall_s, 0)
            # The loop stops at the first upload that fails, and so does the bench.
            (Path(tmp) / "calls").unlink()
            (folder / "b-bad.bin").write_bytes(b"x")
            with self.assertRaises(bench.BenchError), contextlib.redirect_stderr(io.StringIO()):
                bench.measure(ctx, pair, 2, "peer", peer)
            self.assertEqual([line.split()[1] for line in (Path(tmp) / "calls").read_text().splitlines()],
                             [f"{folder}/a.bin", f"{folder}/b-bad.bin"])

    def test_the_many_files_check_reads_every_page(self):
        # Two pages of the list (limit 1000 asked for; the fake server gives 2 a page): the check
        # passes the first page's `next` back as the cursor and compares the SHA-256s as a multiset.
        import http.server
        import json
        import threading
        import types
        from urllib.parse import parse_qs, urlparse

        held = ["aa", "bb", "cc"]
        asked = []

        class Lister(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                asked.append((url.path, query))
                start = int(query.get("cursor", "0"), 16) if "cursor" in query else 0
                page = held[start:start + 2]
                nxt = f"{start + 2:032x}" if start + 2 < len(held) else None
                body = json.dumps({"next": nxt, "uploads": [{"sha256": h, "state": "complete"} for h in page]})
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Lister)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with tempfile.TemporaryDirectory() as tmp, self.ctx(tmp) as ctx:
                ctx.resources["serve"] = types.SimpleNamespace(port=server.server_address[1])
                ctx.state["files_sha256"] = ["aa", "bb", "cc"]
                bench.confirm_files_complete(ctx)
                self.assertEqual(asked, [("/uploads", {"state": "complete", "limit": "1000"}),
                                         ("/uploads", {"state": "complete", "limit": "1000",
                                                       "cursor": f"{2:032x}"})])
                ctx.state["files_sha256"] = ["aa", "bb", "cc", "dd"]
                with self.assertRaisesRegex(bench.BenchError, "holds 3 complete uploads"):
                    bench.confirm_files_complete(ctx)
                held[2] = "bb"  # a file uploaded twice, another not at all
                ctx.state["files_sha256"] = ["aa", "bb", "cc"]
                with self.assertRaises(bench.BenchError):
                    bench.confirm_files_complete(ctx)
        finally:
            server.shutdown()
            server.server_close()

    def test_flipped_bytes(self):
        # 4 GiB in 8 MiB chunks: bytes 107374182, 2147483648, 4187593098 in chunks 12, 256, 499.
        offsets = bench.flip_offsets(4 << 30, 8 << 20)
        self.assertEqual([o // (8 << 20) for o in offsets], [12, 256, 499])
        self.assertEqual(len({o // (8 << 20) for o in bench.flip_offsets(256 << 20, 8 << 20)}), 3)
        with self.assertRaises(bench.BenchError):
            bench.flip_offsets(16 << 20, 8 << 20)  # 2 chunks
        with tempfile.TemporaryDirectory() as tmp:
            good, copy = Path(tmp) / "good", Path(tmp) / "copy"
            good.write_bytes(bytes(range(256)) * 4)
            copy.write_bytes(good.read_bytes())
            bench.flip_bytes(copy, good, [1, 500, 1000])
            bench.flip_bytes(copy, good, [1, 500, 1000])  # the same damage again, not undone
            changed = [i for i, (a, b) in enumerate(zip(good.read_bytes(), copy.read_bytes())) if a != b]
            self.assertEqual(changed, [1, 500, 1000])
            self.assertEqual([copy.read_bytes()[i] for i in changed], [1 ^ 0xFF, (500 % 256) ^ 0xFF, (1000 % 256) ^ 0xFF])
            self.assertEqual(copy.stat().st_size, 1024)
            self.assertFalse(bench.holds_good_bytes(copy, good, [1, 500, 1000]))
            self.assertTrue(bench.holds_good_bytes(copy, good, [0, 2, 999]))

    def test_block_repair_counts(self):
        # A fake server's /metrics: body bytes in = bytes_received_total + block_bytes_written_total (a block
        # write counts in the second only). Between flip_upload and count_block_repair: 0 + 196608.
        import http.server
        import json
        import threading
        import types

        counters = {"received": 1000, "blocks": 0}

        class Metrics(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = ("# TYPE uploadverify_bytes_received_total counter\n"
                        f"uploadverify_bytes_received_total {counters['received']}\n"
                        "# TYPE uploadverify_block_bytes_written_total counter\n"
                        f"uploadverify_block_bytes_written_total {counters['blocks']}\n"
                        "uploadverify_chunks_verified_total 7\n").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with tempfile.TemporaryDirectory() as tmp, self.ctx(tmp) as ctx:
                port = server.server_address[1]
                self.assertEqual(bench.body_bytes_in(port), 1000)
                ctx.bytes = 256 << 20
                ctx.data = Path(tmp) / "good"
                with open(ctx.data, "wb") as f:
                    f.truncate(ctx.bytes)
                stored = Path(tmp) / "stored"
                with open(stored, "wb") as f:
                    f.truncate(ctx.bytes)
                ctx.resources["serve"] = types.SimpleNamespace(port=port)
                ctx.state["file_serve"] = str(stored)
                bench.flip_upload("serve")(ctx, 1)
                offsets = bench.flip_offsets(ctx.bytes, bench.FLIP_CHUNK)
                self.assertFalse(bench.holds_good_bytes(stored, ctx.data, offsets))
                counters["blocks"] = 196608
                doc = {"blocksMoved": 3, "bytesMoved": 196608, "chunksMoved": 3, "ok": True, "sha256": ctx.sha}
                ctx.last_log.write_text("a warning\n" + json.dumps(doc) + "\n")
                bench.count_block_repair("serve")(ctx, 1)
                self.assertEqual(ctx.state["block_repair"], {"wire_bytes_ours": 196608, "bytes_moved": 196608,
                                                             "blocks_moved": 3, "chunks_moved": 3})
                ctx.pair_name = "repair-3-bytes-wire"
                bench.note_block_repair(ctx, 1)
                ctx.out.flush()
                notes = bench.parse_samples((Path(tmp) / "samples.tsv").read_text()).notes
                self.assertIn(("repair-3-bytes-wire", 1, "wire_bytes_ours", "196608"), notes)
                self.assertIn(("repair-3-bytes-wire", 1, "blocks_moved", "3"), notes)
                # A repair whose JSON does not carry the data file's SHA-256 stops the bench.
                ctx.last_log.write_text(json.dumps(dict(doc, sha256="11" * 32)) + "\n")
                with self.assertRaises(bench.BenchError):
                    bench.count_block_repair("serve")(ctx, 2)
        finally:
            server.shutdown()
            server.server_close()

    def test_download_hooks(self):
        # Before each side the download and its chunk map go; after it, a short file stops the bench.
        with tempfile.TemporaryDirectory() as tmp, self.ctx(tmp) as ctx:
            out = Path(ctx.vars["download"])
            out.write_bytes(b"x" * 10)
            Path(f"{out}.chunkmap").write_bytes(b"m")
            bench.remove_download(ctx)
            self.assertEqual(list(Path(tmp).glob("download.bin*")), [])
            with self.assertRaises(bench.BenchError):
                bench.downloaded_whole(ctx)
            out.write_bytes(b"x" * (1 << 20))  # the ctx's size
            bench.downloaded_whole(ctx)
            out.write_bytes(b"x" * ((1 << 20) - 1))
            with self.assertRaises(bench.BenchError):
                bench.downloaded_whole(ctx)

    def test_a_server_is_stopped_and_its_directory_removed_on_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp) / "scratch"
            scratch.mkdir()
            server = bench.Server("sleeper", ["sleep", "60"], Path(tmp) / "log", lambda: True, remove=(scratch,))
            with self.assertRaises(RuntimeError):
                with server:
                    pid = server.pid
                    raise RuntimeError("boom")
            self.assertIsNotNone(server.proc.returncode)
            self.assertFalse(scratch.exists())
            self.assertFalse(Path(f"/proc/{pid}").exists())


if __name__ == "__main__":
    unittest.main()
