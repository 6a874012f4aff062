"""Model jobs: the small local code model, DP-SGD fine-tuning, memorization audits.

    corpus (*.py) -> tokenizer (byte-level BPE + FIM tokens) -> tiny Llama -> HF folder     (tiny_model)
    HF folder + CodeRecords -> LoRA + Opacus DP-SGD -> merged HF folder + privacy_report.json  (train)
    CodeRecords + canaries (canaries) -> fine-tuned models -> exposure / extraction table     (audit)

Every job takes one frozen config dataclass from `training.config` and saves it with its output.
"""
