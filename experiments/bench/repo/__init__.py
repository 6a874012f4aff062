"""Repository-level evaluation: tasks mined from a repository, judged by its own tests in the sandbox.

mine.py       the repository's tests -> one fill-in-the-middle task per function they exercise
functions.py  functions and their body spans (ast); prefix/body/suffix; splicing
context.py    cross-file context: signatures of what a file imports from the repository
source.py     the repository: which files, which version (commit or content hash), is it usable
tasks.py      the tasks file (JSONL): one RepoTask per line
executor.py   one test-command run over a working copy in the sandbox -> per-test outcomes
references.py reference completions: the original bodies, `raise NotImplementedError`, swapped bodies
generate.py   completions through the gateway (OpenAI /v1/completions with a suffix)
run.py        `eval repo run`: samples -> sandboxed judging -> the same outputs as `eval run`
"""
