"""A gRPC server stream read on a thread of its own, for tests that act and then look at what
the stream said: next() with a timeout, until() a message a predicate accepts, quiet() for
"nothing came". Streams whose server sends its response headers once the subscription is in
place (event streams do) are waited for at construction, so what the test does afterwards is
seen."""

import queue
import threading
import time

import grpc


class Reader:
    def __init__(self, call, wait_headers=True):
        self.call = call
        if wait_headers:
            call.initial_metadata()
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for m in self.call:
                self.q.put(m)
        except grpc.RpcError as e:
            self.q.put(e)

    def describe(self):
        """What was seen, for failure messages (subclasses say it better)."""
        return f"{len(self.seen)} messages"

    def next(self, timeout=10):
        try:
            m = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing within {timeout} s; seen {self.describe()}")
        if isinstance(m, grpc.RpcError):
            raise AssertionError(f"the stream ended: {m.code()} {m.details()}")
        self.seen.append(m)
        return m

    def until(self, pred, timeout=10):
        """Messages up to and including the first that pred accepts."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            m = self.next(max(deadline - time.monotonic(), 0.01))
            out.append(m)
            if pred(m):
                return out

    def quiet(self, seconds=0.5):
        """Asserts nothing arrives for that long."""
        try:
            m = self.q.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected {m}")

    def cancel(self):
        self.call.cancel()
