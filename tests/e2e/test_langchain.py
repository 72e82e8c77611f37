"""LangChain's ChatOpenAI against the gateway."""

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI


def chat_model(stack, **kwargs):
    return ChatOpenAI(base_url=stack.base_url, api_key="unused", model="qwen3-max", max_retries=0, **kwargs)


def test_invoke(stack):
    reply = chat_model(stack).invoke("Hello from LangChain")
    assert reply.content == "You said: Hello from LangChain"
    assert reply.usage_metadata["total_tokens"] > 0


def test_invoke_with_a_system_prompt_folds_it_in(stack):
    reply = chat_model(stack).invoke([SystemMessage("Be kind."), HumanMessage("Hi")])
    assert reply.content == "You said: system: Be kind.\n\nuser: Hi"


def test_stream(stack):
    chunks = list(chat_model(stack).stream("Stream from LangChain"))
    assert len(chunks) > 2
    assert "".join(c.content for c in chunks) == "You said: Stream from LangChain"


def test_stream_with_usage(stack):
    chunks = list(chat_model(stack, stream_usage=True).stream("usage please"))
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == "You said: usage please"
    assert total.usage_metadata["total_tokens"] > 0


async def test_ainvoke_and_astream(stack):
    model = chat_model(stack)
    assert (await model.ainvoke("async hi")).content == "You said: async hi"
    text = "".join([c.content async for c in model.astream("async stream")])
    assert text == "You said: async stream"
