from gateway.translate.context import file_names, plan_context


def conversation(turns, chars):
    messages = []
    for i in range(turns):
        messages += [{"role": "user", "content": f"u{i} " + "x" * chars}, {"role": "assistant", "content": f"a{i}"}]
    return messages + [{"role": "user", "content": "last question"}]


def test_newest_turns_stay_inline_and_the_rest_goes_to_files_in_order():
    messages = conversation(10, 10_000)
    plan = plan_context(["<tools>"], messages, tail_chars=25_000, part_chars=30_000, stamp=1755650000000)
    assert plan.prompt.startswith("<instructions>\n<tools>\n</instructions>")
    assert plan.prompt.endswith("user: last question")
    assert "u9 " in plan.prompt and "u7 " not in plan.prompt
    history = "".join(f.text for f in plan.files)
    assert history.startswith("user: u0 ") and "u7 " in history and "u9 " not in history
    assert plan.moved_chars == len(history) and str(len(history)) in plan.prompt
    assert [f.name for f in plan.files] == file_names(1755650000000, len(plan.files))
    assert file_names(1, 3) == ["Pasted_Text_1.txt", "Pasted_Text_1_2.txt", "Pasted_Text_1_3.txt"]
    assert all(len(f.text) <= 30_000 for f in plan.files)
    # nothing lost: every message is inline or in a file
    for message in messages:
        assert message["content"] in plan.prompt or message["content"] in history


def test_one_giant_message_goes_whole_into_the_file():
    plan = plan_context([], [{"role": "user", "content": "y" * 200_000}], tail_chars=50_000,
                        part_chars=500_000, stamp=1)
    assert len(plan.files) == 1 and plan.files[0].text == "y" * 200_000
    assert "y" not in plan.prompt.replace("Pasted_Text", "")
