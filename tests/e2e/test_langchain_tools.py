"""LangChain: bind_tools, with_structured_output and a small agent loop."""

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


def chat_model(stack):
    return ChatOpenAI(base_url=stack.base_url, api_key="unused", model="qwen3-max", max_retries=0)


def test_bind_tools_produces_tool_calls(stack):
    reply = chat_model(stack).bind_tools([multiply]).invoke("Please multiply 6 and 7")
    (call,) = reply.tool_calls
    assert call["name"] == "multiply" and call["args"] == {"a": 6, "b": 7}


def test_with_structured_output_pydantic(stack):
    person = chat_model(stack).with_structured_output(Person).invoke('Who is "Alan", aged 41?')
    assert person == Person(name="Alan", age=41)


def test_agent_loop_calls_a_python_tool_and_answers_with_its_result(stack):
    model = chat_model(stack).bind_tools([multiply])
    messages = [HumanMessage("Use multiply on 6 and 7")]
    for _ in range(3):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(ToolMessage(str(multiply.invoke(call["args"])), tool_call_id=call["id"]))
    assert messages[-1].content == "Tool results: 42"


def test_stream_with_tools(stack):
    chunks = list(chat_model(stack).bind_tools([multiply]).stream("multiply 3 by 5"))
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.tool_calls == [{"name": "multiply", "args": {"a": 3, "b": 5}, "id": total.tool_calls[0]["id"],
                                 "type": "tool_call"}]
