"""Tests of the notes service on the session's app, each in a transaction of its own."""

import httpx


async def test_a_note_is_stored_and_listed(client: httpx.AsyncClient) -> None:
    created = await client.post("/notes", json={"text": "buy oat milk"})
    assert created.status_code == 201
    listed = (await client.get("/notes")).json()
    assert [note["text"] for note in listed] == ["buy oat milk"]


async def test_the_next_test_sees_none_of_it(client: httpx.AsyncClient) -> None:
    assert (await client.get("/notes")).json() == []
    await client.post("/notes", json={"text": "call mum"})


async def test_a_fresh_app_finds_nothing_a_test_left(fresh_client: httpx.AsyncClient) -> None:
    assert (await fresh_client.get("/notes")).json() == []
