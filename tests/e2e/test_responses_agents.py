"""The OpenAI Agents SDK (which speaks the Responses API) running an agent through the gateway."""

import openai
import pytest


@pytest.fixture(scope="module")
def sdk():
    """The Agents SDK, imported when these tests run: at module level its ~1.7 s import was paid by
    every xdist worker at collection."""
    import agents

    agents.set_tracing_disabled(True)  # traces would go to OpenAI's own servers
    return agents


def multiply(a: int, b: int) -> int:
    """Multiply two whole numbers."""
    return a * b


def agent_for(sdk, stack):
    client = openai.AsyncOpenAI(base_url=stack.base_url, api_key="unused", max_retries=0)
    model = sdk.OpenAIResponsesModel(model="qwen3-max", openai_client=client)
    return sdk.Agent(name="Calculator", instructions="Use your tools to answer.", model=model,
                     tools=[sdk.function_tool(multiply)])


async def test_an_agent_calls_its_python_tool_and_answers_with_the_result(sdk, stack):
    result = await sdk.Runner.run(agent_for(sdk, stack), "Use multiply on 6 and 7")
    assert result.final_output == "Tool results: 42"
    calls = [item for item in result.new_items if item.type == "tool_call_item"]
    assert [call.raw_item.name for call in calls] == ["multiply"]
    assert len(stack.upstream_requests("/api/v2/chat/completions")) == 2  # the call, then the answer


async def test_a_streamed_agent_run(sdk, stack):
    run = sdk.Runner.run_streamed(agent_for(sdk, stack), "Use multiply on 3 and 5")
    kinds = [event.type async for event in run.stream_events()]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert run.final_output == "Tool results: 15"
