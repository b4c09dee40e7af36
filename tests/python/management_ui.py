#!/usr/bin/env python3
"""Browser test of the management web UI (src/management/ui/) with headless Chromium.

Drives the UI served at --url through selenium + Debian's chromium/chromium-driver
(no driver downloads), against any server implementing RabbitMQ 3.10.8's management
HTTP API under <url>api/ (trackswitch, or RabbitMQ itself behind a proxy that serves
the UI files). An AMQP connection opened with pika must show up in the UI.

Setup:  apt-get install -y chromium chromium-driver && pip install selenium pika
Run:    python3 tests/python/management_ui.py --url http://127.0.0.1:15672/ \
            --amqp-url amqp://guest:guest@127.0.0.1:5672/ --screenshot queues.png

Each step prints "ok: ..." or "FAIL: ..."; exit status 0 only if every step passed.
The whole run is bounded (~3 minutes) and always deletes the queue it created.
"""
import argparse
import base64
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

os.environ.setdefault('SE_OFFLINE', 'true')  # never let selenium-manager download anything

import pika  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

QUEUE = 'ui-test-queue'
PAYLOAD = 'hello from the browser'
CONN_NAME = 'ui-test-client'
OVERALL_LIMIT = 170  # seconds


class StepFailed(Exception):
    pass


class Deadline(Exception):
    pass


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--url', required=True, help='UI root, e.g. http://127.0.0.1:15672/')
    p.add_argument('--amqp-url', default='amqp://guest:guest@127.0.0.1:5672/')
    p.add_argument('--user', default='guest')
    p.add_argument('--password', default='guest')
    p.add_argument('--screenshot', default=None, help='PNG path for a screenshot of the Queues tab')
    p.add_argument('--timeout', type=float, default=30.0, help='seconds per wait')
    p.add_argument('--chromium', default='/usr/bin/chromium')
    p.add_argument('--chromedriver', default='/usr/bin/chromedriver')
    a = p.parse_args()
    if not a.url.endswith('/'):
        a.url += '/'
    return a


class Http:
    """Tiny management API client (urllib) for checks and cleanup."""

    def __init__(self, base, user, password):
        self.base = urllib.parse.urljoin(base, 'api/')
        self.auth = 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header('Authorization', self.auth)
        if data is not None:
            req.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw) if raw else None
            except ValueError:
                return e.code, raw

    def queue_path(self, name, vhost='/'):
        return 'queues/' + urllib.parse.quote(vhost, safe='') + '/' + urllib.parse.quote(name, safe='')


class UiTest:
    def __init__(self, args):
        self.a = args
        self.http = Http(args.url, args.user, args.password)
        self.failures = 0
        self.passes = 0
        self.driver = None
        self.conn = None

    # ---- reporting and waiting ----
    def ok(self, msg):
        self.passes += 1
        print('ok: ' + msg, flush=True)

    def fail(self, msg):
        self.failures += 1
        print('FAIL: ' + msg, flush=True)

    def step(self, desc, fn):
        try:
            detail = fn()
            self.ok(desc + (f' ({detail})' if isinstance(detail, str) and detail else ''))
            return True
        except (Deadline, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001
            self.fail(f'{desc}: {type(e).__name__}: {e}')
            msg = self.message_text()
            if msg:
                print(f'      UI message area: {msg!r}', flush=True)
            return False

    def pump(self):
        if self.conn is not None and self.conn.is_open:
            try:
                self.conn.process_data_events(0)
            except Exception:  # noqa: BLE001
                pass

    def wait(self, fn, what, timeout=None):
        end = time.monotonic() + (timeout or self.a.timeout)
        last = None
        while True:
            try:
                v = fn()
                if v:
                    return v
            except (NoSuchElementException, StaleElementReferenceException) as e:
                last = e
            if time.monotonic() > end:
                raise StepFailed(f'timed out waiting for {what}' + (f' (last error: {type(last).__name__})' if last else ''))
            self.pump()
            time.sleep(0.25)

    # ---- DOM helpers ----
    def q(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def qs(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        els = self.qs(css)
        return els[0] if els and els[0].is_displayed() else None

    def click(self, css):
        el = self.wait(lambda: self.visible(css), css + ' visible')
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()
        return el

    def type_into(self, css, text):
        el = self.wait(lambda: self.visible(css), css + ' visible')
        el.clear()
        el.send_keys(text)

    def message_text(self):
        try:
            return self.driver.execute_script("var m=document.getElementById('message-area');return m?m.textContent:''") if self.driver else ''
        except Exception:  # noqa: BLE001
            return ''

    def row(self, table, name):
        for tr in self.qs(f'#{table} tbody tr[data-name]'):
            if tr.get_attribute('data-name') == name:
                return tr
        return None

    def cell(self, table, name, col):
        tr = self.row(table, name)
        if tr is None:
            return None
        tds = tr.find_elements(By.CSS_SELECTOR, f'td[data-col="{col}"]')
        return tds[0].text.strip() if tds else None

    def open_tab(self, tab):
        self.click(f'#tab-{tab}')
        self.wait(lambda: self.visible(f'#view-{tab}'), f'{tab} view')

    # ---- scenario ----
    def start_browser(self):
        opts = webdriver.ChromeOptions()
        opts.binary_location = self.a.chromium
        for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                    '--window-size=1400,900', '--hide-scrollbars', '--force-device-scale-factor=1',
                    '--no-first-run', '--disable-extensions', '--lang=en-US'):
            opts.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(self.a.chromedriver), options=opts)
        self.driver.set_page_load_timeout(self.a.timeout)
        self.driver.set_script_timeout(self.a.timeout)
        self.driver.set_window_size(1400, 900)

    def run(self):
        a = self.a
        # leftovers from an earlier run
        self.http.call('DELETE', self.http.queue_path(QUEUE))

        def s_browser():
            self.start_browser()
            self.driver.get(a.url)
            self.wait(lambda: self.visible('#login-username'), 'login form')
            title = self.driver.title
            if title != 'trackswitch management':
                raise StepFailed(f'unexpected title {title!r}')
            return 'title ' + title
        if not self.step('UI loads and shows the login form', s_browser):
            return

        def s_bad_login():
            self.type_into('#login-username', a.user)
            self.type_into('#login-password', a.password + '-wrong')
            self.click('#login-submit')
            err = self.wait(lambda: self.visible('#login-error'), 'login error')
            self.wait(lambda: 'failed' in err.text.lower(), 'login error text')
            if self.visible('#app-view'):
                raise StepFailed('app shown after a failed login')
            return repr(err.text)
        self.step('login with a wrong password shows an error', s_bad_login)

        def s_login():
            self.type_into('#login-username', a.user)
            self.type_into('#login-password', a.password)
            self.click('#login-submit')
            self.wait(lambda: self.visible('#app-view'), 'app view after login')
            self.wait(lambda: a.user in self.q('#current-user').text, 'current user shown')
            stored = self.driver.execute_script('return Object.keys(sessionStorage).length')
            cookies = self.driver.get_cookies()
            if cookies:
                raise StepFailed(f'cookies were set: {cookies}')
            return f'sessionStorage keys: {stored}, no cookies'
        if not self.step('login with the right password', s_login):
            return

        def s_amqp():
            params = pika.URLParameters(a.amqp_url)
            params.client_properties = {'connection_name': CONN_NAME}
            self.conn = pika.BlockingConnection(params)
            self.chan = self.conn.channel()
            return 'pika connection + 1 channel'
        if not self.step('open an AMQP connection named ui-test-client', s_amqp):
            return

        conn_name = {}

        def s_connections():
            self.open_tab('connections')

            def find():
                for tr in self.qs('#connections-table tbody tr[data-name]'):
                    if CONN_NAME in tr.text:
                        return tr
                return None
            tr = self.wait(find, 'connection row with ui-test-client')
            conn_name['v'] = tr.get_attribute('data-name')
            cells = [td.text for td in tr.find_elements(By.TAG_NAME, 'td')]
            if a.user not in cells:
                raise StepFailed(f'user {a.user} not in row cells {cells}')
            return conn_name['v']
        self.step('Connections tab lists the pika connection (user %s)' % a.user, s_connections)

        def s_channels():
            self.open_tab('channels')
            prefix = conn_name.get('v') or ''

            def find():
                for tr in self.qs('#channels-table tbody tr[data-name]'):
                    n = tr.get_attribute('data-name')
                    if (prefix and n.startswith(prefix)) or (not prefix and CONN_NAME in tr.text):
                        return n
                return None
            return self.wait(find, 'channel row of the pika connection')
        self.step('Channels tab lists its channel', s_channels)

        def s_add_queue():
            self.open_tab('queues')
            self.type_into('#queues-filter', QUEUE)
            self.type_into('#add-queue-name', QUEUE)
            durable = self.q('#add-queue-durable')
            if durable.is_selected():
                durable.click()
            if self.q('#add-queue-auto-delete').is_selected():
                self.q('#add-queue-auto-delete').click()
            self.click('#add-queue-submit')
            self.wait(lambda: 'declared' in self.message_text(), 'success message')
            st, q = self.http.call('GET', self.http.queue_path(QUEUE))
            if st != 200 or q.get('durable') is not False:
                raise StepFailed(f'API says {st} {q}')
            return 'non-durable per the API'
        if not self.step('add queue ui-test-queue (durable off) via the form', s_add_queue):
            return

        def s_queue_listed():
            self.wait(lambda: self.cell('queues-table', QUEUE, 'ready') == '0', 'queue row with 0 ready')
            return 'ready=0'
        self.step('queue appears in the Queues tab with 0 ready', s_queue_listed)

        def s_publish():
            tr = self.wait(lambda: self.row('queues-table', QUEUE), 'queue row')
            tr.find_element(By.CSS_SELECTOR, '[data-testid="queue-link"]').click()
            self.wait(lambda: self.visible('#queue-detail') and self.q('#queue-detail').get_attribute('data-name') == QUEUE,
                      'queue detail panel')
            self.type_into('#queue-publish-payload', PAYLOAD)
            self.click('#queue-publish-submit')
            self.wait(lambda: 'routed' in self.message_text() and 'not routed' not in self.message_text(), '"routed" message')
            return self.message_text().strip().rstrip('\u00d7')
        self.step('publish a message via the queue detail panel', s_publish)

        def s_ready1():
            self.wait(lambda: self.cell('queues-table', QUEUE, 'ready') == '1', 'queue row with 1 ready')
            return 'ready=1'
        self.step('queue row shows 1 ready after refresh', s_ready1)

        def s_get():
            Select(self.q('#queue-get-ackmode')).select_by_value('ack_requeue_true')  # leaves the message queued
            self.click('#queue-get-submit')
            pl = self.wait(lambda: self.visible('[data-testid="message-payload"]'), 'fetched message')
            if pl.text != PAYLOAD:
                raise StepFailed(f'payload {pl.text!r}')
            rk = self.q('[data-testid="message-routing-key"]').text
            if QUEUE not in rk:
                raise StepFailed(f'routing key shown as {rk!r}')
            return f'payload {pl.text!r}, {rk}'
        self.step('Get messages shows the payload', s_get)

        def s_screenshot():
            if not a.screenshot:
                return 'skipped (no --screenshot)'
            st, q = self.http.call('GET', self.http.queue_path(QUEUE))
            # requeued by the get above: the queue still holds the message
            self.wait(lambda: self.cell('queues-table', QUEUE, 'ready') == '1', 'row back at 1 ready')
            self.driver.execute_script('window.scrollTo(0, 0)')
            h = self.driver.execute_script('return document.documentElement.scrollHeight')
            self.driver.set_window_size(1400, max(900, min(int(h) + 140, 1500)))
            time.sleep(0.5)
            self.driver.save_screenshot(a.screenshot)
            self.driver.set_window_size(1400, 900)
            return f'{a.screenshot} ({os.path.getsize(a.screenshot)} bytes, queue has {q.get("messages")} message(s) per API)'
        self.step('screenshot of the Queues tab', s_screenshot)

        def s_delete():
            self.click('#queue-delete')
            self.click('#confirm-yes')
            self.wait(lambda: 'deleted' in self.message_text(), 'deleted message')
            self.wait(lambda: self.row('queues-table', QUEUE) is None, 'queue row gone')
            st, _ = self.http.call('GET', self.http.queue_path(QUEUE))
            if st != 404:
                raise StepFailed(f'API GET of the queue answered {st}, expected 404')
            return 'gone from the UI, API answers 404'
        self.step('delete the queue via the UI (with confirm step)', s_delete)

        def s_overview():
            self.open_tab('overview')
            vals = {}
            for k in ('connections', 'channels', 'exchanges', 'queues', 'consumers', 'messages'):
                v = self.wait(lambda: self.visible(f'[data-testid="total-{k}"] .stat-value'), f'total {k}').text
                if not re.fullmatch(r'[\d,]+', v):
                    raise StepFailed(f'total {k} = {v!r}')
                vals[k] = int(v.replace(',', ''))
            if vals['exchanges'] < 1:
                raise StepFailed(f'no exchanges counted: {vals}')
            alarm = self.wait(lambda: self.visible('[data-testid="alarm-status"]'), 'alarm status').get_attribute('data-status')
            server = self.q('[data-testid="overview-server"] .stat-value').text
            return f'{vals}, alarms {alarm}, server {server!r}'
        self.step('Overview tab shows totals', s_overview)

    def cleanup(self):
        try:
            if self.conn is not None and self.conn.is_open:
                self.conn.close()
                print('ok: closed the pika connection', flush=True)
        except Exception as e:  # noqa: BLE001
            print(f'note: closing pika connection: {e}', flush=True)
        try:
            st, _ = self.http.call('DELETE', self.http.queue_path(QUEUE))
            if st not in (204, 404):
                print(f'note: cleanup DELETE of {QUEUE} answered {st}', flush=True)
        except Exception as e:  # noqa: BLE001
            print(f'note: cleanup: {e}', flush=True)
        try:
            if self.driver is not None:
                self.driver.quit()
        except Exception:  # noqa: BLE001
            pass


def main():
    args = parse_args()

    def on_alarm(signum, frame):
        raise Deadline(f'overall limit of {OVERALL_LIMIT}s reached')
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(OVERALL_LIMIT)
    t = UiTest(args)
    try:
        t.run()
    except Deadline as e:
        t.fail(str(e))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
        signal.alarm(20)  # cleanup itself is bounded too
        t.cleanup()
        signal.alarm(0)
    if t.passes == 0:
        t.failures += 1
    print(f'{t.passes} passed, {t.failures} failed', flush=True)
    return 0 if t.failures == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
