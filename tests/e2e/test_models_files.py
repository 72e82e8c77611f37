"""Models that resolve as chat resolves them, with their capabilities; listing and deleting files."""

import openai
import pytest

from .harness import default_settings, live_stack

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def client_for(stack, key="unused"):
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def test_an_old_name_chat_accepts_is_a_model_too(stack):
    client = client_for(stack)
    model = client.models.retrieve("qwen-max")
    assert model.id == "qwen3-max"  # the current model the old name resolves to, as chat resolves it
    reply = client.chat.completions.create(model="qwen-max", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content == "You said: Hi"
    assert stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]["model"] == model.id
    assert client.models.retrieve("Qwen3-Max-thinking").id == "qwen3-max-thinking"  # display names, any case
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("qwen-image-2.0-pro-thinking")  # a variant the model lacks


def test_each_model_says_what_it_can_do(stack):
    models = {m.id: m.model_extra["capabilities"] for m in client_for(stack).models.list()}
    assert models["qwen3.7-plus"] == {"vision": True, "thinking": True, "search": True, "image": True,
                                      "video": True, "documents": True}
    assert models["qwen-image-2.0-pro"] == {"vision": False, "thinking": False, "search": False, "image": True,
                                            "video": False, "documents": False}
    assert models["qwen3-max-thinking"]["search"] is True and models["qwen3-max"]["video"] is False


def test_files_list_pages_filters_and_orders_and_delete_forgets():
    with live_stack(default_settings(api_keys=("mine", "theirs"))) as stack:
        client = client_for(stack, "mine")
        made = [client.files.create(file=(f"doc{i}.pdf", PDF, "application/pdf"), purpose="user_data")
                for i in range(3)]
        picture = client.files.create(file=("cat.png", b"\x89PNG\r\n\x1a\nrest", "image/png"), purpose="vision")
        client_for(stack, "theirs").files.create(file=("other.pdf", PDF, "application/pdf"), purpose="user_data")

        listed = [f.id for f in client.files.list()]
        assert sorted(listed) == sorted([f.id for f in made] + [picture.id])  # only the caller's own
        documents = client.files.list(purpose="user_data", order="asc", limit=2)
        assert len(documents.data) == 2 and documents.has_more
        assert [f.id for f in documents] == [f.id for f in made]  # auto-paging follows `after`
        assert [f.id for f in client.files.list(purpose="vision")] == [picture.id]

        deleted = client.files.delete(made[0].id)
        assert deleted.deleted is True and deleted.id == made[0].id
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(made[0].id)
        with pytest.raises(openai.NotFoundError):
            client_for(stack, "theirs").files.delete(made[1].id)  # someone else's file
        assert made[1].id in [f.id for f in client.files.list()]
        with pytest.raises(openai.BadRequestError) as caught:
            client.files.list(limit=0)
        assert caught.value.body["param"] == "limit"
