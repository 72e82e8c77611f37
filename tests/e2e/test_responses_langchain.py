"""LangChain's ChatOpenAI on the Responses API (`use_responses_api=True`, or implied by `reasoning`)."""

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two whole numbers."""
    return a * b


class Person(BaseModel):
    name: str
    age: int


def chat_model(stack, **kwargs):
    kwargs.setdefault("use_responses_api", True)
    return ChatOpenAI(base_url=stack.base_url, api_key="unused", model="qwen3-max", max_retries=0, **kwargs)


def test_invoke(stack):
    reply = chat_model(stack).invoke("Hello from LangChain")
    assert reply.text == "You said: Hello from LangChain"
    assert reply.usage_metadata["total_tokens"] > 0
    assert reply.response_metadata["id"].startswith("resp_")
    assert stack.upstream_requests("/api/v2/chat/completions")  # served, through /v1/responses


def test_stream(stack):
    chunks = list(chat_model(stack).stream("Stream from LangChain"))
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert len([c for c in chunks if c.text]) > 1
    assert total.text == "You said: Stream from LangChain"
    assert total.usage_metadata["total_tokens"] > 0


def test_bind_tools_agent_loop(stack):
    model = chat_model(stack).bind_tools([multiply])
    messages = [HumanMessage("Use multiply on 6 and 7")]
    reply = model.invoke(messages)
    (call,) = reply.tool_calls
    assert call["name"] == "multiply" and call["args"] == {"a": 6, "b": 7}
    messages += [reply, ToolMessage(str(multiply.invoke(call["args"])), tool_call_id=call["id"])]
    assert model.invoke(messages).text == "Tool results: 42"


def test_reasoning_effort_high_goes_through_responses_and_returns_the_reasoning(stack):
    model = chat_model(stack, use_responses_api=None, reasoning={"effort": "high", "summary": "auto"})
    reply = model.invoke("What is 17 * 19?")
    assert reply.text == "17 * 19 = 323."
    assert reply.response_metadata["id"].startswith("resp_")  # LangChain chose /v1/responses itself
    (reasoning,) = [block for block in reply.content if block["type"] == "reasoning"]
    assert reasoning["summary"][0]["text"] == "Reading the question\nThe user wants an answer.\nAnswering now.\n"
    assert reply.usage_metadata["output_token_details"]["reasoning"] > 0
    sent = stack.upstream_requests("/api/v2/chat/completions")[-1]["body"]
    assert sent["messages"][0]["feature_config"]["thinking_enabled"] is True


def test_with_structured_output(stack):
    person = chat_model(stack).with_structured_output(Person).invoke('Who is "Alan", aged 41?')
    assert person == Person(name="Alan", age=41)
