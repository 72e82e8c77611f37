"""translate/turn.plan_turn: a request and its model → the upstream turn, with no I/O."""

from gateway.catalog import ModelInfo, ResolvedModel
from gateway.translate.chat import parse_chat_request
from gateway.translate.turn import Continuation, plan_turn

MAX = ModelInfo("qwen3-max", "Qwen3-Max", thinking=True, vision=True, chat_types=frozenset({"t2t", "search"}))
MUST_THINK = ModelInfo("qwen3.8", "Qwen3.8", thinking=True, vision=False, chat_types=frozenset({"t2t"}),
                       must_think=True)
CONVERSATION = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                {"role": "user", "content": "three"}]


def chat(**fields):
    return parse_chat_request({"model": "qwen3-max", "messages": CONVERSATION, **fields})


def test_a_new_chat_folds_the_whole_conversation():
    turn = plan_turn(chat(), ResolvedModel(MAX, False))
    assert turn.continuing is None and turn.start == 0
    assert "one" in turn.prompt and "two" in turn.prompt and "three" in turn.prompt
    assert (turn.chat_type, turn.thinking, turn.oversized) == ("t2t", False, False)


def test_a_continuation_sends_only_the_turns_upstream_has_not_seen():
    turn = plan_turn(chat(), ResolvedModel(MAX, False), continuing=Continuation("c1", "p1", 2))
    assert turn.continuing == Continuation("c1", "p1", 2) and turn.start == 2
    assert turn.prompt == "three"


def test_a_correction_always_goes_in_a_new_chat_after_the_instructions():
    turn = plan_turn(chat(), ResolvedModel(MAX, False), continuing=Continuation("c1", "p1", 2),
                     correction="Answer with a tool call.")
    assert turn.continuing is None and turn.instructions == ["Answer with a tool call."]
    assert turn.prompt.index("Answer with a tool call.") < turn.prompt.index("user: one")


def test_images_and_documents_go_with_the_turn_that_carries_them():
    turn = plan_turn(chat(), ResolvedModel(MAX, False), continuing=Continuation("c1", "p1", 2),
                     image_messages=[0, 2, 2], document_messages=[0, 1])
    assert turn.images == (1, 2) and turn.documents == ()
    whole = plan_turn(chat(), ResolvedModel(MAX, False), image_messages=[0, 2], document_messages=[1])
    assert whole.images == (0, 1) and whole.documents == (0,)


def test_mode_search_thinking_and_the_context_file_threshold():
    assert plan_turn(chat(), ResolvedModel(MAX, True, search=True)).chat_type == "search"
    assert plan_turn(chat(web_search_options={}), ResolvedModel(MAX, False)).chat_type == "search"
    assert plan_turn(chat(), ResolvedModel(MAX, True)).thinking is True
    assert plan_turn(chat(), ResolvedModel(MUST_THINK, False)).thinking is True  # §9: it cannot stop thinking
    assert plan_turn(chat(), ResolvedModel(MAX, False), context_file_chars=5).oversized is True
