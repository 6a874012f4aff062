"""Offline benchmarks: pass@k of generated code, judged in a sandbox that the code cannot fool.

codesieve.core.benchmarks (HumanEval / MBPP / MultiPL-E)   generate.py (HTTP: gateway or vLLM)
            \\                                               /
             run.py: samples -> judge in parallel -> results.jsonl -> pass_at_k.py -> summary
                        |                         |
          harness.py (Python: tests here,   toolchains.py (MultiPL-E: build + run,
          candidate over wire.py)            exit status + completion marker)
                        \\                        /
                   sandbox.py: bubblewrap + rlimits + seccomp; the only exec site

Also: security.py (bandit over CWE prompts), contamination.py (codesieve.core.contamination per problem),
compare.py (paired per-task significance test); cli.py mounts them as `codesieve eval ...`.
"""
