"""A model of LazyApp's promise, checked by hypothesis against a scripted server.

Rules start a lifespan (with faults injected into the factory's enter and exit and into the
inner app's startup, shutdown and requests), send requests, stop the lifespan, start a second
one alongside, or cancel the lifespan task. After every step: every resource that was opened is
closed exactly once whenever no lifespan runs; the server is told at most one startup.* and one
shutdown.* per lifespan, never a completion after a failure; requests reach only the inner app
of the lifespan that is running, and otherwise raise NotStartedError.

The event loop runs in a blocking portal (asyncio or trio), so that a lifespan lives across
rules. `make test-deep` runs the deep profile: 2,000 examples per backend.
"""

from __future__ import annotations

import sys
import unittest
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lazgi import LazyApp, NotStartedError
from lazgi._types import ASGIApp, Message, Receive, Scope, Send

TIMEOUT = 0.1  # both timeouts: every injected hang ends in a reported failure, and only those
BOUND = 10  # seconds any one step may take


@dataclass(frozen=True)
class Plan:
    """Where this lifespan fails, and how."""

    enter: str = "ok"
    exit: str = "ok"
    startup: str = "ok"
    shutdown: str = "ok"
    request: str = "ok"


plans = st.builds(
    Plan,
    enter=st.sampled_from(["ok", "ok", "raise", "hang"]),
    exit=st.sampled_from(["ok", "ok", "raise", "hang"]),
    startup=st.sampled_from(
        ["ok", "ok", "raise", "fail", "hang", "no lifespan", "duplicate", "wrong message"]
    ),
    shutdown=st.sampled_from(["ok", "ok", "raise", "fail", "hang", "receive again", "return"]),
    request=st.sampled_from(["ok", "raise"]),
)


class World:
    """What the factory and the inner apps did, as the invariants need to see it."""

    def __init__(self) -> None:
        self.plan = Plan()
        self.generation = 0  # factory calls
        self.opened = 0
        self.exits: list[int] = []  # the generation of each resource exit
        self.served: list[int] = []  # the generation of the inner app each request reached

    @asynccontextmanager
    async def factory(self) -> AsyncGenerator[ASGIApp]:
        plan, self.generation = self.plan, self.generation + 1
        generation = self.generation
        self.opened += 1
        try:
            await fault(plan.enter, "factory enter")
            yield self.inner(generation, plan)
        finally:
            self.exits.append(generation)
            await fault(plan.exit, "factory exit")

    def inner(self, generation: int, plan: Plan) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                self.served.append(generation)
                await fault(plan.request, "request")
                return
            if plan.startup == "no lifespan":
                raise ValueError("lifespan is not supported")
            await receive()
            await answer(plan.startup, "startup", send)
            if plan.startup in ("fail", "duplicate"):
                return
            await receive()
            if plan.shutdown == "return":
                return
            await answer(plan.shutdown, "shutdown", send)
            if plan.shutdown == "receive again":
                await receive()

        return app


async def fault(how: str, where: str) -> None:
    await anyio.lowlevel.checkpoint()
    if how == "raise":
        raise RuntimeError(f"{where} failed")
    if how == "hang":
        await anyio.sleep_forever()


async def answer(how: str, event: str, send: Send) -> None:
    await fault(how, event)
    if how == "fail":
        await send({"type": f"lifespan.{event}.failed", "message": f"{event} said no"})
    elif how == "wrong message":
        await send({"type": "lifespan.hello"})
    else:
        await send({"type": f"lifespan.{event}.complete"})
        if how == "duplicate":
            await send({"type": f"lifespan.{event}.complete"})


class Conversation:
    """One lifespan call of the app, from the server's side."""

    def __init__(self, app: LazyApp[Any]) -> None:
        self.app = app
        self.sent: list[Message] = []
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.to_app, self.inbox = anyio.create_memory_object_stream[Message](2)
        self.from_app, self.replies = anyio.create_memory_object_stream[Message](4)

    async def run(self) -> None:
        async def send(message: Message) -> None:
            self.sent.append(message)
            self.from_app.send_nowait(message)

        try:
            with self.scope:
                lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
                await self.app(lifespan, self.inbox.receive, send)
        finally:
            self.done.set()

    async def event(self, kind: str) -> Message:
        with anyio.fail_after(BOUND):
            await self.to_app.send({"type": kind})
            return await self.replies.receive()

    async def finish(self) -> None:
        with anyio.fail_after(BOUND):
            await self.done.wait()
        for stream in (self.to_app, self.inbox, self.from_app, self.replies):
            await stream.aclose()


class LazyAppModel(RuleBasedStateMachine):
    backend = "asyncio"

    def __init__(self) -> None:
        super().__init__()
        self.portal_cm = start_blocking_portal(self.backend)
        self.portal: BlockingPortal = self.portal_cm.__enter__()
        self.world = World()
        self.app = LazyApp(self.world.factory, startup_timeout=TIMEOUT, shutdown_timeout=TIMEOUT)
        self.current: Conversation | None = None
        self.running_generation: int | None = None  # the inner app requests may reach
        self.finished: list[Conversation] = []

    def open(self) -> Conversation:
        async def new() -> Conversation:  # anyio objects belong to the portal's event loop
            return Conversation(self.app)

        conversation = self.portal.call(new)
        self.portal.start_task_soon(conversation.run)
        return conversation

    def close(self, conversation: Conversation) -> None:
        self.portal.call(conversation.finish)
        self.finished.append(conversation)

    @precondition(lambda self: self.current is None)
    @rule(plan=plans)
    def start(self, plan: Plan) -> None:
        self.world.plan = plan
        conversation = self.open()
        reply = self.portal.call(conversation.event, "lifespan.startup")
        if reply["type"] == "lifespan.startup.complete":
            self.current = conversation
            # An app that answers startup twice has crashed while running: none is served.
            if plan.startup != "duplicate":
                self.running_generation = self.world.generation
        else:
            assert reply["type"] == "lifespan.startup.failed"
            assert reply["message"]
            self.close(conversation)

    @precondition(lambda self: self.current is not None)
    @rule()
    def second_lifespan(self) -> None:
        conversation = self.open()
        reply = self.portal.call(conversation.event, "lifespan.startup")
        assert reply["type"] == "lifespan.startup.failed"
        assert "already running" in reply["message"]
        self.close(conversation)

    @rule(kind=st.sampled_from(["http", "websocket"]))
    def request(self, kind: str) -> None:
        served = len(self.world.served)

        async def call() -> None:
            with anyio.fail_after(BOUND):
                await self.app({"type": kind, "state": {}}, receive_nothing, send_nothing)

        if self.running_generation is None:
            with pytest.raises(NotStartedError):
                self.portal.call(call)
            assert len(self.world.served) == served  # it never reached an inner app
            return
        if self.world.plan.request == "raise":
            with pytest.raises(RuntimeError, match="request failed"):
                self.portal.call(call)
        else:
            self.portal.call(call)
        assert self.world.served[served:] == [self.running_generation]

    @precondition(lambda self: self.current is not None)
    @rule()
    def stop(self) -> None:
        assert self.current is not None
        conversation, self.current, self.running_generation = self.current, None, None
        reply = self.portal.call(conversation.event, "lifespan.shutdown")
        assert reply["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed")
        plan = self.world.plan
        inner_clean = plan.startup == "no lifespan" or (
            plan.startup != "duplicate" and plan.shutdown in ("ok", "return")
        )
        clean = plan.exit == "ok" and inner_clean
        assert (reply["type"] == "lifespan.shutdown.complete") == clean, (plan, reply)
        self.close(conversation)

    @precondition(lambda self: self.current is not None)
    @rule()
    def cancel(self) -> None:
        assert self.current is not None
        conversation, self.current, self.running_generation = self.current, None, None
        self.portal.call(conversation.scope.cancel)
        self.close(conversation)
        assert [m["type"] for m in conversation.sent][:1] == ["lifespan.startup.complete"]

    @invariant()
    def every_resource_is_closed_once_when_nothing_runs(self) -> None:
        if self.current is None:
            assert sorted(self.world.exits) == list(range(1, self.world.generation + 1))
            assert self.world.opened == self.world.generation

    @invariant()
    def the_server_hears_each_stage_at_most_once_and_never_complete_after_failed(self) -> None:
        for conversation in self.finished:
            kinds = [message["type"] for message in conversation.sent]
            starts = [k for k in kinds if k.startswith("lifespan.startup.")]
            stops = [k for k in kinds if k.startswith("lifespan.shutdown.")]
            assert len(starts) == 1, kinds
            assert len(stops) <= 1, kinds
            assert kinds == starts + stops, kinds
            if starts == ["lifespan.startup.failed"]:
                assert stops == [], kinds

    def teardown(self) -> None:
        try:
            if self.current is not None:
                self.stop()
            self.every_resource_is_closed_once_when_nothing_runs()
            self.the_server_hears_each_stage_at_most_once_and_never_complete_after_failed()
        except BaseException:
            self.portal_cm.__exit__(*sys.exc_info())  # cancels what is left, then re-raise
            raise
        self.portal_cm.__exit__(None, None, None)


async def receive_nothing() -> Message:
    raise AssertionError("the inner apps here never receive on a request")


async def send_nothing(message: Message) -> None:
    raise AssertionError("the inner apps here never send on a request")


class LazyAppModelTrio(LazyAppModel):
    backend = "trio"


# hypothesis builds these unittest classes at runtime; their type is not declared.
TestLazyAppModelOnAsyncio: type[unittest.TestCase] = LazyAppModel.TestCase  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
TestLazyAppModelOnTrio: type[unittest.TestCase] = LazyAppModelTrio.TestCase  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
