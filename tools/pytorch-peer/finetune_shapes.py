"""PyTorch eager CPU reference for `peft bench --only finetune-shapes`: the same run (a random-weight model of a
real config, fp32 base, a PEFT adapter on every linear layer, AdamW) in transformers + PEFT, printing tokens/s
and peak RSS as one JSON line. Optional: the project never needs Python; docs/performance.md quotes its numbers.

    python finetune_shapes.py --preset smollm2-135m --method vera --r 256 --batch 4 --seq 256 --steps 3 --threads 2
"""

import argparse
import json
import resource
import time

import torch
from peft import LoraConfig, VeraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

PRESETS = {
    "smollm2-135m": (LlamaConfig, LlamaForCausalLM, dict(
        hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True, rope_theta=100000.0,
        max_position_embeddings=8192, rms_norm_eps=1e-5)),
    "qwen2.5-0.5b": (Qwen2Config, Qwen2ForCausalLM, dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True, rope_theta=1000000.0,
        max_position_embeddings=32768, rms_norm_eps=1e-6)),
    "tinyllama-1.1b": (LlamaConfig, LlamaForCausalLM, dict(
        hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
        num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=False, rope_theta=10000.0,
        max_position_embeddings=2048, rms_norm_eps=1e-5)),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="smollm2-135m", choices=sorted(PRESETS))
    parser.add_argument("--method", default="vera", choices=["vera", "lora"])
    parser.add_argument("--r", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    config_class, model_class, fields = PRESETS[args.preset]
    model = model_class(config_class(**fields, attn_implementation="eager"))
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    adapter = (VeraConfig(r=args.r, target_modules="all-linear") if args.method == "vera"
               else LoraConfig(r=args.r, lora_alpha=2 * args.r, target_modules="all-linear"))
    model = get_peft_model(model, adapter)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    ids = torch.randint(0, fields["vocab_size"], (args.batch, args.seq))
    step_seconds = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_seconds.append(time.perf_counter() - start)
    tokens = args.batch * args.seq
    # Steady state: the first step allocates and warms caches, like the tfjs runs' first step.
    steady = step_seconds[1:] or step_seconds
    print(json.dumps({
        "torch": torch.__version__,
        "preset": args.preset, "method": args.method, "r": args.r, "batch": args.batch, "seq": args.seq,
        "threads": args.threads, "gradient_checkpointing": args.gradient_checkpointing,
        "step_seconds": [round(s, 3) for s in step_seconds],
        "tokens_per_second": round(tokens / (sum(steady) / len(steady)), 1),
        "tokens_per_second_all_steps": round(tokens * len(step_seconds) / sum(step_seconds), 1),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
