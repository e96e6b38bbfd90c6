"""The upload page in a real browser (headless Chromium through Selenium)
against a live `uploadverify serve`: run by Tests/browser/run.sh, which starts
the servers and passes them in the environment:

  UV_BASE_URL      the server, e.g. http://127.0.0.1:PORT (serves the page at /)
  UV_DATA_DIR      its --data-dir, to check the uploaded bytes on disk
  UV_TOKEN_URL     optional: a second server started with --token UV_TOKEN
  UV_TOKEN
  UV_ARTIFACTS     where the screenshot goes (default Tests/browser/artifacts)

What is counted, is counted on the server (/metrics): chunks verified,
duplicates, rejections, and the most chunk PUTs it ever had in flight at once.
The browser's memory (issue #16) is the proportional set size of Chromium's
whole process tree, read from /proc/PID/smaps_rollup.
"""

import hashlib
import os
import random
import re
import tempfile
import threading
import time
import unittest
import urllib.request
import json

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ.get('UV_BASE_URL', '').rstrip('/')
DATA_DIR = os.environ.get('UV_DATA_DIR', '')
TOKEN_URL = os.environ.get('UV_TOKEN_URL', '').rstrip('/')
TOKEN = os.environ.get('UV_TOKEN', '')
HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.environ.get('UV_ARTIFACTS', os.path.join(HERE, 'artifacts'))
CHROMEDRIVER = os.environ.get('CHROMEDRIVER', '/usr/bin/chromedriver')

MiB = 1 << 20
CHUNK = MiB  # ?chunkSize=1MiB: many chunks from small files, quick to generate
EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'


def chromium_binary():
    # Debian's /usr/bin/chromium is a shell wrapper; chromedriver wants the browser itself.
    for path in ('/usr/lib/chromium/chromium', '/usr/bin/chromium'):
        if os.path.exists(path):
            return path
    return None


def new_driver(*extra_args):
    options = webdriver.ChromeOptions()
    binary = chromium_binary()
    if binary:
        options.binary_location = binary
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1100,1300', *extra_args):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def metrics(base=None):
    """The server's Prometheus counters and gauges, name -> value (no labels here)."""
    text = urllib.request.urlopen(f'{base or BASE}/metrics', timeout=10).read().decode()
    values = {}
    for line in text.splitlines():
        match = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)$', line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def counter(snapshot, name):
    return int(snapshot.get(f'uploadverify_{name}', 0))


def status_json(path, base=None, token=None):
    request = urllib.request.Request(f'{base or BASE}{path}')
    if token:
        request.add_header('Authorization', f'Bearer {token}')
    return json.load(urllib.request.urlopen(request, timeout=10))


def make_file(directory, name, size, seed):
    """Random (so every chunk differs), reproducible bytes; returns (path, sha256 hex)."""
    path = os.path.join(directory, name)
    data = random.Random(seed).randbytes(size)
    with open(path, 'wb') as out:
        out.write(data)
    return path, hashlib.sha256(data).hexdigest()


def make_big_file(path, size, seed):
    """`size` bytes in a second or two and next to no disk: each MiB starts with
    one random page stamped with its index (so that no two chunks are alike),
    and the rest of the MiB is a hole, read back as zeros. Returns the SHA-256."""
    page = bytearray(random.Random(seed).randbytes(4096))
    zeros = bytes(MiB)
    digest = hashlib.sha256()
    with open(path, 'wb') as out:
        for index, offset in enumerate(range(0, size, MiB)):
            length = min(MiB, size - offset)
            page[:8] = index.to_bytes(8, 'little')
            head = page[:length]
            out.seek(offset)
            out.write(head)
            digest.update(head)
            digest.update(zeros[:length - len(head)])
        out.truncate(size)
    return digest.hexdigest()


def process_tree(root):
    """root and every process descended from it, from /proc's parent links."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as stat:
                # The name in parentheses may hold spaces: the parent follows the last ')'.
                parent = int(stat.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def pss_bytes(pids):
    """The processes' proportional set sizes summed: shared pages counted once in all."""
    total = 0
    for pid in pids:
        try:
            with open(f'/proc/{pid}/smaps_rollup') as rollup:
                for line in rollup:
                    if line.startswith('Pss:'):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass  # a process that ended between the listing and the read
    return total


def browser_pid(driver):
    """Chromium's browser process: chromedriver's child (the rest descend from it)."""
    pids = [pid for pid in process_tree(driver.service.process.pid) if pid != driver.service.process.pid]
    for pid in pids:
        with open(f'/proc/{pid}/comm') as comm:
            if 'chrom' in comm.read():
                return pid
    raise AssertionError('no chromium process under chromedriver')


class PssSampler(threading.Thread):
    """Samples the summed PSS of a process tree every `interval` seconds until stopped;
    the tree is listed again at each sample, since Chromium starts processes as it goes."""

    def __init__(self, root, interval=0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        # On a fixed cadence: reading smaps_rollup itself takes tens of milliseconds.
        due = time.monotonic()
        while not self.halt.is_set():
            self.samples.append(pss_bytes(process_tree(self.root)))
            due = max(due + self.interval, time.monotonic())
            self.halt.wait(due - time.monotonic())

    def stop(self):
        self.halt.set()
        self.join()
        return self.samples


class BrowserUploaderTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BASE or not DATA_DIR:
            raise unittest.SkipTest('UV_BASE_URL and UV_DATA_DIR are not set: run Tests/browser/run.sh BINARY')
        cls.files = tempfile.TemporaryDirectory(prefix='uv-browser-')
        cls.driver = new_driver()
        cls.driver.set_page_load_timeout(30)
        os.makedirs(ARTIFACTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.files.cleanup()

    # ---- helpers ----------------------------------------------------------

    def open_page(self, query='?chunkSize=1MiB', base=None, driver=None):
        driver = driver or self.driver
        driver.get(f'{base or BASE}/{query}')
        WebDriverWait(driver, 10).until(lambda d: d.execute_script('return document.body.dataset.digestEngine'))

    def choose(self, path, driver=None):
        """Chooses a file with the page's file picker, as a person would."""
        (driver or self.driver).find_element(By.ID, 'file').send_keys(path)

    def card(self, name, driver=None):
        """The newest card for a file name."""
        driver = driver or self.driver
        for element in driver.find_elements(By.CSS_SELECTOR, '#uploads .upload'):
            if element.find_element(By.CSS_SELECTOR, '.name').text == name:
                return element
        return None

    def wait_for_state(self, name, states, timeout=120, driver=None):
        driver = driver or self.driver

        def reached(_):
            element = self.card(name, driver)
            return element if element is not None and element.get_attribute('data-state') in states else False

        try:
            return WebDriverWait(driver, timeout, poll_frequency=0.05).until(reached)
        except Exception:
            element = self.card(name, driver)
            words = element.find_element(By.CSS_SELECTOR, '.state').text if element else 'no card'
            raise AssertionError(f'{name} never reached {states}: {words}')

    def wait_done(self, name, driver=None, timeout=120):
        element = self.wait_for_state(name, ('done', 'failed'), timeout, driver)
        words = element.find_element(By.CSS_SELECTOR, '.state').text
        self.assertEqual(element.get_attribute('data-state'), 'done', f'{name}: {words}')
        return element

    def throttle(self, bytes_per_second, driver=None):
        """DevTools network emulation: slows the page's uploads so a test can watch them (-1: off)."""
        driver = driver or self.driver
        driver.execute_cdp_cmd('Network.enable', {})
        driver.execute_cdp_cmd('Network.emulateNetworkConditions', {
            'offline': False, 'latency': 0, 'downloadThroughput': -1, 'uploadThroughput': bytes_per_second,
        })

    def assert_on_disk(self, upload_path, expected_sha256, size):
        upload_id = upload_path.rsplit('/', 1)[-1]
        data = os.path.join(DATA_DIR, upload_id)
        self.assertEqual(os.path.getsize(data), size, 'the data file on the server has the file size')
        digest = hashlib.sha256()
        with open(data, 'rb') as stream:
            for block in iter(lambda: stream.read(MiB), b''):
                digest.update(block)
        self.assertEqual(digest.hexdigest(), expected_sha256, 'the bytes on the server are the file')
        status = status_json(upload_path)
        self.assertEqual(status['state'], 'complete')
        self.assertEqual(status['sha256'], expected_sha256)

    def assert_in_flight_bound(self):
        in_flight = metrics().get('uploadverify_chunk_requests_in_flight_max')
        self.assertIsNotNone(in_flight, 'the server exposes uploadverify_chunk_requests_in_flight_max')
        self.assertLessEqual(in_flight, 3, 'never more than 3 chunk requests in flight')
        return int(in_flight)

    # ---- tests --------------------------------------------------------------

    def test_1_multi_chunk_file_with_short_last_chunk(self):
        # 4 MiB chunks: each PUT lasts long enough on the server for parallel
        # ones to overlap there even on a fast loopback.
        chunk, count = 4 * MiB, 25
        size = (count - 1) * chunk + 300_001  # the last chunk short
        path, sha = make_file(self.files.name, 'several-chunks.bin', size, 'several')
        before = metrics()
        self.open_page('?chunkSize=4MiB')
        self.assertEqual(self.driver.execute_script('return window.isSecureContext'), True)
        self.assertEqual(self.driver.find_element(By.TAG_NAME, 'body').get_attribute('data-digest-engine'), 'webcrypto')
        # No network emulation here: Chromium's throttling releases requests
        # one at a time, which would hide the parallelism this test checks.
        self.choose(path)
        element = self.wait_done('several-chunks.bin')
        after = metrics()

        self.assertEqual(element.get_attribute('data-sha256'), sha)
        self.assertEqual(element.get_attribute('data-chunk-count'), str(count))
        self.assertIn(sha, element.find_element(By.CSS_SELECTOR, '.state').text)
        self.assert_on_disk(element.get_attribute('data-path'), sha, size)
        self.assertEqual(status_json(element.get_attribute('data-path'))['chunkSize'], chunk)
        self.assertEqual(counter(after, 'chunks_verified_total') - counter(before, 'chunks_verified_total'), count)
        self.assertEqual(counter(after, 'chunks_duplicate_total') - counter(before, 'chunks_duplicate_total'), 0)
        self.assertEqual(counter(after, 'chunks_rejected_total') - counter(before, 'chunks_rejected_total'), 0)
        in_flight = self.assert_in_flight_bound()
        self.assertGreaterEqual(in_flight, 2, 'chunks went in parallel, not one by one')
        print(f'\n    {count} chunks, server saw at most {in_flight} chunk PUTs in flight', end=' ')

    def test_2_empty_file(self):
        path = os.path.join(self.files.name, 'empty.txt')
        open(path, 'wb').close()
        before = metrics()
        self.open_page()
        self.choose(path)
        element = self.wait_done('empty.txt')
        after = metrics()
        self.assertEqual(element.get_attribute('data-sha256'), EMPTY_SHA256)
        self.assertEqual(element.get_attribute('data-chunk-count'), '0')
        self.assert_on_disk(element.get_attribute('data-path'), EMPTY_SHA256, 0)
        self.assertEqual(counter(after, 'chunks_verified_total') - counter(before, 'chunks_verified_total'), 0)
        self.assertEqual(counter(after, 'uploads_completed_total') - counter(before, 'uploads_completed_total'), 1)

    def test_3_resume_after_reload_sends_only_missing_chunks(self):
        size = 30 * CHUNK + 12_345  # 31 chunks
        chunk_count = 31
        path, sha = make_file(self.files.name, 'resumed.bin', size, 'resumed')
        start = metrics()
        # Slowed enough to press Pause part-way, as a person would.
        upload_path = self.start_and_pause('resumed.bin', path, 4)
        paused = metrics()
        sent_before = counter(paused, 'chunks_verified_total') - counter(start, 'chunks_verified_total')
        on_server = status_json(upload_path)['receivedChunks']
        self.assertEqual(on_server, sent_before, 'every chunk sent before the pause is on the server')
        self.assertLess(on_server, chunk_count, 'the pause came before the end')
        time.sleep(1)  # the pause holds: nothing more is sent
        self.assertEqual(counter(metrics(), 'chunks_verified_total'), counter(paused, 'chunks_verified_total'))

        # Reload, choose the same file again: the page finds the upload in
        # localStorage and asks the handshake what is missing.
        self.driver.refresh()
        WebDriverWait(self.driver, 10).until(lambda d: d.execute_script('return document.body.dataset.digestEngine'))
        self.assertIsNone(self.card('resumed.bin'))
        self.choose(path)
        element = self.wait_done('resumed.bin')
        end = metrics()

        self.assertEqual(element.get_attribute('data-path'), upload_path, 'the same upload was resumed')
        self.assertEqual(counter(end, 'uploads_created_total'), counter(paused, 'uploads_created_total'), 'no new upload')
        self.assertEqual(counter(end, 'chunks_verified_total') - counter(paused, 'chunks_verified_total'), chunk_count - on_server,
                         'only the missing chunks were sent')
        self.assertEqual(counter(end, 'chunks_duplicate_total') - counter(start, 'chunks_duplicate_total'), 0, 'no chunk sent twice')
        self.assertEqual(int(element.get_attribute('data-sent-chunks')), chunk_count - on_server)
        self.assertIn('Resumed', element.find_element(By.CSS_SELECTOR, '.state').text)
        self.assertEqual(element.get_attribute('data-sha256'), sha)
        self.assert_on_disk(upload_path, sha, size)
        self.assert_in_flight_bound()
        print(f'\n    paused with {on_server} of {chunk_count} chunks on the server; resume sent {chunk_count - on_server}', end=' ')

        # The finished page, with the empty file beside it, for people to look at.
        empty = os.path.join(self.files.name, 'empty.txt')
        open(empty, 'wb').close()
        self.choose(empty)
        self.wait_done('empty.txt')
        time.sleep(0.6)  # one refresh of the figures
        self.driver.save_screenshot(os.path.join(ARTIFACTS, 'uploader-finished.png'))

    def test_4_plain_http_to_another_host_uses_the_pages_own_sha256(self):
        # http://uploader.test is not a secure context: no WebCrypto there.
        port = BASE.rsplit(':', 1)[-1]
        driver = new_driver('--host-resolver-rules=MAP uploader.test 127.0.0.1')
        try:
            size = 3 * CHUNK + 77
            path, sha = make_file(self.files.name, 'plain-http.bin', size, 'plain')
            before = metrics()
            self.open_page(base=f'http://uploader.test:{port}', driver=driver)
            self.assertEqual(driver.execute_script('return window.isSecureContext'), False)
            self.assertEqual(driver.execute_script('return typeof crypto.subtle'), 'undefined')
            self.assertEqual(driver.find_element(By.TAG_NAME, 'body').get_attribute('data-digest-engine'), 'builtin')
            self.choose(path, driver)
            element = self.wait_done('plain-http.bin', driver)
            after = metrics()
            self.assertEqual(element.get_attribute('data-sha256'), sha)
            self.assert_on_disk(element.get_attribute('data-path'), sha, size)
            self.assertEqual(counter(after, 'chunks_verified_total') - counter(before, 'chunks_verified_total'), 4)
            self.assertEqual(counter(after, 'digest_mismatches_total') - counter(before, 'digest_mismatches_total'), 0)
        finally:
            driver.quit()

    def start_and_pause(self, name, path, at_least):
        """Chooses a file on a slowed page and presses Pause once `at_least` chunks are verified."""
        self.open_page()
        self.throttle(4 * MiB)
        self.choose(path)
        WebDriverWait(self.driver, 60, poll_frequency=0.05).until(
            lambda _: int(self.card(name).get_attribute('data-verified-chunks') or 0) >= at_least)
        self.card(name).find_element(By.CSS_SELECTOR, 'button.pause').click()
        element = self.wait_for_state(name, ('paused',), timeout=60)
        self.throttle(-1)
        return element.get_attribute('data-path')

    def test_6_another_file_with_the_same_name_size_and_date_is_refused_in_words(self):
        # Two different files that look the same to localStorage: the second
        # resumes the first's upload, and the server's SHA-256 check catches it.
        size = 10 * CHUNK + 1
        first_dir = os.path.join(self.files.name, 'first')
        second_dir = os.path.join(self.files.name, 'second')
        os.makedirs(first_dir)
        os.makedirs(second_dir)
        first, _ = make_file(first_dir, 'lookalike.bin', size, 'first')
        second, second_sha = make_file(second_dir, 'lookalike.bin', size, 'second')
        os.utime(first, (1_700_000_000, 1_700_000_000))
        os.utime(second, (1_700_000_000, 1_700_000_000))
        path = self.start_and_pause('lookalike.bin', first, 2)

        self.open_page()
        self.choose(second)
        element = self.wait_for_state('lookalike.bin', ('done', 'failed'))
        words = element.find_element(By.CSS_SELECTOR, '.state').text
        self.assertEqual(element.get_attribute('data-state'), 'failed', words)
        self.assertEqual(element.get_attribute('data-path'), path)
        self.assertIn('does not have the SHA-256 this page computed', words)
        self.assertNotEqual(status_json(path)['state'], 'complete')

        # The page forgot that upload: the same file again starts a new one and is confirmed.
        self.choose(second)
        WebDriverWait(self.driver, 10).until(lambda _: len(self.driver.find_elements(By.CSS_SELECTOR, '#uploads .upload')) == 2)
        element = self.wait_done('lookalike.bin')
        self.assertNotEqual(element.get_attribute('data-path'), path)
        self.assertEqual(element.get_attribute('data-sha256'), second_sha)
        self.assert_on_disk(element.get_attribute('data-path'), second_sha, size)
        self.assert_in_flight_bound()

    def test_5_token(self):
        if not TOKEN_URL:
            self.skipTest('no server with --token (UV_TOKEN_URL)')
        path, sha = make_file(self.files.name, 'with-token.bin', CHUNK + 5, 'token')
        driver = self.driver
        self.open_page(base=TOKEN_URL)
        self.choose(path)
        element = self.wait_for_state('with-token.bin', ('failed', 'done'))
        self.assertEqual(element.get_attribute('data-state'), 'failed')
        self.assertIn('access token', element.find_element(By.CSS_SELECTOR, '.state').text)
        driver.find_element(By.CSS_SELECTOR, '#settings summary').click()
        driver.find_element(By.ID, 'token').send_keys(TOKEN)
        self.choose(path)
        element = self.wait_done('with-token.bin')
        self.assertEqual(element.get_attribute('data-sha256'), sha)
        self.assertEqual(status_json(element.get_attribute('data-path'), TOKEN_URL, TOKEN)['sha256'], sha)


class BrowserMemoryTests(unittest.TestCase):
    """Issue #16: a big file through the page, with the page's default chunk
    size, must not make the browser hold more than a few chunks' worth of
    memory. Each test has its own Chromium, so that what others left is not
    counted."""

    SIZE = 2 * 1024 * MiB + 12_345  # 2 GiB and a short last chunk
    BUDGET = 256 * MiB

    def setUp(self):
        if not BASE or not DATA_DIR:
            self.skipTest('UV_BASE_URL and UV_DATA_DIR are not set: run Tests/browser/run.sh BINARY')
        files = tempfile.TemporaryDirectory(prefix='uv-browser-memory-')
        self.addCleanup(files.cleanup)  # runs even when the test fails: 2 GiB is not left behind
        self.files = files.name

    def open_page(self, *chromium_args):
        driver = new_driver(*chromium_args)
        self.addCleanup(driver.quit)
        driver.get(f'{BASE}/')  # no ?chunkSize: the server's default, as a person gets
        WebDriverWait(driver, 10).until(lambda d: d.execute_script('return document.body.dataset.digestEngine'))
        return driver

    def wait_settled(self, driver, timeout):
        """The card once its upload is done or failed."""
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(
            lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, '#uploads .upload')
                            if e.get_attribute('data-state') in ('done', 'failed')), False),
            f'the upload neither finished nor failed within {timeout} s')

    def delete_upload(self, upload_path):
        """Frees the server's copy once checked (2 GiB for the first test)."""
        request = urllib.request.Request(f'{BASE}{upload_path}', method='DELETE')
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except OSError:
            pass

    def rest(self, root):
        """The page's PSS at rest: the least of a second's samples, once loaded and idle."""
        time.sleep(1.5)  # let the first layout, the workers' start and the GC settle
        sampler = PssSampler(root)
        sampler.start()
        time.sleep(1)
        return min(sampler.stop())

    def test_2_gib_upload_stays_within_256_mib_of_the_page_at_rest(self):
        path = os.path.join(self.files, 'big.bin')
        sha = make_big_file(path, self.SIZE, 'memory')
        driver = self.open_page()
        root = browser_pid(driver)
        rest = self.rest(root)

        before = metrics()
        sampler = PssSampler(root)
        sampler.start()
        started = time.monotonic()
        try:
            driver.find_element(By.ID, 'file').send_keys(path)
            element = self.wait_settled(driver, 150)
        finally:
            samples = sampler.stop()
        took = time.monotonic() - started
        upload_path = element.get_attribute('data-path')
        self.addCleanup(self.delete_upload, upload_path)
        after = metrics()

        peak = max(samples)
        print(f'\n    {self.SIZE / MiB:.0f} MiB uploaded in {took:.1f} s: browser PSS at rest {rest / MiB:.0f} MiB, '
              f'peak {peak / MiB:.0f} MiB (+{(peak - rest) / MiB:.0f} MiB), {len(samples)} samples', end=' ')
        words = element.find_element(By.CSS_SELECTOR, '.state').text
        self.assertEqual(element.get_attribute('data-state'), 'done', words)
        self.assertEqual(element.get_attribute('data-sha256'), sha)
        status = status_json(upload_path)
        self.assertEqual(status['state'], 'complete')
        self.assertEqual(status['sha256'], sha, 'the server confirmed the SHA-256')
        self.assertEqual(os.path.getsize(os.path.join(DATA_DIR, upload_path.rsplit('/', 1)[-1])), self.SIZE)
        chunks = int(element.get_attribute('data-chunk-count'))
        self.assertEqual(chunks, -(-self.SIZE // status['chunkSize']))
        self.assertEqual(counter(after, 'chunks_verified_total') - counter(before, 'chunks_verified_total'), chunks, 'each chunk sent once')
        self.assertEqual(counter(after, 'chunks_rejected_total') - counter(before, 'chunks_rejected_total'), 0)
        self.assertGreaterEqual(len(samples), 10, 'the upload was sampled throughout')
        self.assertLessEqual(peak - rest, self.BUDGET,
                             f'the browser rose from {rest / MiB:.0f} MiB at rest to {peak / MiB:.0f} MiB while uploading')

    def test_reads_survive_garbage_collections(self):
        # Chromium lets a garbage collection take a Blob's stream while a read
        # of it is pending, and the read then never settles; the page holds
        # its readers (hashing.js). A collection every 5 ms makes that certain:
        # without them, not one chunk was read.
        size = 64 * MiB + 1
        path = os.path.join(self.files, 'collected.bin')
        sha = make_big_file(path, size, 'collected')
        driver = self.open_page('--js-flags=--expose-gc')
        driver.execute_script('setInterval(() => gc(), 5)')
        driver.find_element(By.ID, 'file').send_keys(path)
        element = self.wait_settled(driver, 60)
        upload_path = element.get_attribute('data-path')
        self.addCleanup(self.delete_upload, upload_path)
        self.assertEqual(element.get_attribute('data-state'), 'done', element.find_element(By.CSS_SELECTOR, '.state').text)
        self.assertEqual(element.get_attribute('data-sha256'), sha)
        self.assertEqual(status_json(upload_path)['sha256'], sha)


if __name__ == '__main__':
    unittest.main(verbosity=2)
