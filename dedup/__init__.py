"""Corpus jobs and the shared code index.

records -> exact hash dedup -> code lexemes -> 5-lexeme shingles -> MinHash signatures
        -> LSH band keys -> buckets -> edges -> connected components -> keep rule -> deduplicated corpus

The lexer and shingling here are also what the reference index (built by `codesieve index build`
and queried by the gateway's provenance filter) uses, so build and query cannot drift apart.
"""
