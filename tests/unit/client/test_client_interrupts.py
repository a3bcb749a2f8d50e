"""Ctrl-C while the blocking client waits for a call: never raised inside grpc.

An exception raised at an arbitrary point of grpc's Python code can leave the channel's lock
owned by the main thread, and every later call on that channel hangs. So while the main thread
waits (a stream's next message, a unary answer), Ctrl-C cancels the call and KeyboardInterrupt
is raised once the wait has ended, from the client's own code (``interrupts``).

Most tests here use a stand-in for grpc's call object that waits the way grpc does and records
any exception raised inside it; the Ctrl-C is "pressed" (``_thread.interrupt_main``) at a chosen
point inside that wait, so where it lands is deterministic.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from aihubd_client.channel import Call
from aihubd_client.transport import Connection


class Cancelled(grpc.RpcError):
    """What grpc raises from a read of a cancelled stream."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.CANCELLED

    def details(self) -> str:
        return "Locally cancelled by application!"


class FakeCall:
    """Stands in for grpc's call object (a server stream and a unary future at once).

    A read waits as grpc's does: holding the call's reentrant lock, polling its Condition, until
    a message (or the answer) is there or the call ends; ``cancel()`` ends it, unless ``stuck``.
    Each time a read is about to block, the next of ``presses`` runs there, inside the call.
    ``inside`` holds every exception raised inside the call's code.
    """

    def __init__(
        self,
        messages: tuple[object, ...] = (),
        presses: tuple[Callable[[], None], ...] = (),
        *,
        stuck: bool = False,
    ) -> None:
        self.condition = threading.Condition()
        self.messages = list(messages)
        self.presses = list(presses)
        self.stuck = stuck
        self.cancelled = False
        self.inside: list[BaseException] = []

    def cancel(self) -> bool:
        with self.condition:
            if self.cancelled:
                return False
            self.cancelled = True
            self.condition.notify_all()
            return True

    def __iter__(self) -> Iterator[object]:
        return self

    def __next__(self) -> object:
        try:
            with self.condition:
                self._wait_until(lambda: bool(self.messages))
                if self.messages:
                    return self.messages.pop(0)
                raise Cancelled()
        except Cancelled:
            raise
        except BaseException as exc:
            self.inside.append(exc)
            raise

    def result(self, timeout: float | None = None) -> object:
        try:
            with self.condition:
                self._wait_until(lambda: bool(self.messages))
                if self.messages:
                    return self.messages.pop(0)
                raise grpc.FutureCancelledError()
        except grpc.FutureCancelledError:
            raise
        except BaseException as exc:
            self.inside.append(exc)
            raise

    def deliver(self, message: object) -> None:
        with self.condition:
            self.messages.append(message)
            self.condition.notify_all()

    def _wait_until(self, ready: Callable[[], bool]) -> None:
        while not ready() and not (self.cancelled and not self.stuck):
            if self.presses:
                self.presses.pop(0)()
            self.condition.wait(timeout=0.01)


class FakeRpc:
    """A stub's method: calling it starts the stream, ``future`` the unary call."""

    def __init__(self, call: FakeCall) -> None:
        self.call = call

    def __call__(self, request: object, timeout: float | None = None, metadata: object = None) -> FakeCall:
        return self.call

    def future(self, request: object, timeout: float | None = None, metadata: object = None) -> FakeCall:
        return self.call


def connection_to(call: FakeCall, tmp_path: Path) -> Connection:
    connection = Connection(tmp_path / "unused.sock")
    connection.rpc = lambda _call: FakeRpc(call)  # type: ignore[method-assign]
    return connection


CALL = Call("WaitJob", request=None)


class SigintHandler:
    """The test's SIGINT handler: the client must leave it in place after every call."""

    def __init__(self) -> None:
        self.original = self.current = signal.getsignal(signal.SIGINT)

    def install(self, handler: Callable[[int, object], None]) -> None:
        signal.signal(signal.SIGINT, handler)
        self.current = handler


@pytest.fixture(autouse=True)
def sigint() -> Iterator[SigintHandler]:
    handler = SigintHandler()
    try:
        yield handler
        assert signal.getsignal(signal.SIGINT) is handler.current
    finally:
        signal.signal(signal.SIGINT, handler.original)


def press_ctrl_c() -> None:
    _thread.interrupt_main()


def read_all(connection: Connection, received: list[object]) -> None:
    with connection.stream(CALL) as messages:
        for message in messages:
            received.append(message)


@pytest.mark.timeout(30)
def test_ctrl_c_before_the_first_message_cancels_the_stream_then_raises(tmp_path):
    call = FakeCall(presses=(press_ctrl_c,))
    received: list[object] = []
    with pytest.raises(KeyboardInterrupt) as caught:
        read_all(connection_to(call, tmp_path), received)
    assert call.cancelled and call.inside == [] and received == []
    assert caught.value.__suppress_context__  # not shown as "during handling of Cancelled"


@pytest.mark.timeout(30)
def test_ctrl_c_between_messages_cancels_the_stream_then_raises(tmp_path):
    call = FakeCall(messages=("first",), presses=(press_ctrl_c,))
    received: list[object] = []
    with pytest.raises(KeyboardInterrupt):
        read_all(connection_to(call, tmp_path), received)
    assert call.cancelled and call.inside == [] and received == ["first"]


@pytest.mark.timeout(30)
def test_ctrl_c_while_a_unary_answer_is_awaited_cancels_the_call_then_raises(tmp_path):
    call = FakeCall(presses=(press_ctrl_c,))
    with pytest.raises(KeyboardInterrupt):
        connection_to(call, tmp_path).unary(CALL)
    assert call.cancelled and call.inside == []


@pytest.mark.timeout(30)
def test_ctrl_c_from_another_thread_while_the_read_is_blocked(tmp_path):
    call = FakeCall()
    pressing = threading.Timer(0.2, press_ctrl_c)
    pressing.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            read_all(connection_to(call, tmp_path), [])
    finally:
        pressing.join()
    assert call.cancelled and call.inside == []


@pytest.mark.timeout(30)
def test_a_handler_that_does_not_raise_leaves_the_call_alone(tmp_path, sigint):
    noted: list[int] = []
    sigint.install(lambda signum, frame: noted.append(signum))
    call = FakeCall(presses=(press_ctrl_c, lambda: call.deliver("after")))
    assert connection_to(call, tmp_path).unary(CALL) == "after"
    assert noted == [signal.SIGINT]
    assert not call.cancelled and call.inside == []


class Stop(Exception):
    pass


@pytest.mark.timeout(30)
def test_what_a_handler_raises_is_raised_once_the_call_is_cancelled(tmp_path, sigint):
    def stop(signum, frame):
        raise Stop("stopped by SIGINT")

    sigint.install(stop)
    call = FakeCall(presses=(press_ctrl_c,))
    with pytest.raises(Stop, match="stopped by SIGINT"):
        read_all(connection_to(call, tmp_path), [])
    assert call.cancelled and call.inside == []


@pytest.mark.timeout(30)
def test_a_second_ctrl_c_gets_out_of_a_wait_that_cancelling_does_not_end(tmp_path):
    call = FakeCall(presses=(press_ctrl_c, press_ctrl_c), stuck=True)
    with pytest.raises(KeyboardInterrupt):
        read_all(connection_to(call, tmp_path), [])
    assert call.cancelled
    assert [type(exc) for exc in call.inside] == [KeyboardInterrupt]  # the second one, as before


@pytest.mark.timeout(30)
def test_outside_the_main_thread_the_handler_is_left_alone(tmp_path, sigint):
    seen: list[object] = []
    call = FakeCall(presses=(lambda: seen.append(signal.getsignal(signal.SIGINT)),))
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(connection_to(call, tmp_path).unary(CALL)))
    reader.start()
    while not seen:
        reader.join(0.01)
    call.deliver("answer")
    reader.join(10)
    assert result == ["answer"] and seen == [sigint.current]


# against a real gRPC server (conftest.py)


@pytest.mark.timeout(60)
def test_repeated_real_sigints_never_leave_the_channel_stuck(client, fake, workdir):
    """A real SIGINT (as a terminal sends it) while the client waits on a stream or on a unary
    call, again and again on one channel; each ends the call and the channel goes on working."""

    def sigint() -> None:
        os.kill(os.getpid(), signal.SIGINT)

    fake.on_hang = sigint
    fake.hang_unary.add("jsuccess")
    job, download = client.get_job("jhang"), client.get_job("jsuccess")
    for _ in range(10):
        fake.wait_ended.clear()
        with pytest.raises(KeyboardInterrupt):
            job.wait()
        assert fake.wait_ended.wait(20)
        fake.unary_ended.clear()
        with pytest.raises(KeyboardInterrupt):
            download.download_job_logs("logs")
        assert fake.unary_ended.wait(20)
        assert client.get_job("jdone").last_status == "SUCCESS"
