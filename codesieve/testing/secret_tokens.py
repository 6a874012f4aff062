"""Credential-shaped test tokens built at run time, so no scanner (GitHub push protection, gitleaks)
flags the test sources: checksum-bearing formats get their checksum computed here, never stored."""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from collections.abc import Callable

from codesieve.core.provider_detectors import base62_crc32


def with_crc32(prefix: str, body: str) -> str:
    """`prefix` + the 30-character `body` + its base62 CRC32 (GitHub `ghp_`..., npm `npm_`)."""
    assert len(body) == 30, "GitHub/npm tokens carry 30 random characters before the checksum"
    return prefix + body + base62_crc32(body)


def wrong_crc32(prefix: str, body: str) -> str:
    """The same shape with a checksum that does not match (a look-alike, not a token)."""
    good = base62_crc32(body)
    bad = ("1" if good[0] != "1" else "2") + good[1:]
    return prefix + body + bad


# --- one builder per provider rule (codesieve.core.provider_detectors.PROVIDER_RULES)

_ALNUM = string.ascii_letters + string.digits
_LOWER = string.ascii_lowercase + string.digits
_UPPER = string.ascii_uppercase + string.digits
_HEX = "0123456789abcdef"
_URLSAFE = _ALNUM + "-_"
_B64 = _ALNUM + "+/"


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url_json(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _bech32_checksum(hrp: str, data: list[int]) -> list[int]:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data + [0] * 6
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(gen):
            if (top >> i) & 1:
                chk ^= g
    chk ^= 1
    return [(chk >> 5 * (5 - i)) & 31 for i in range(6)]


def _age_key(rng: random.Random) -> str:
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    data = [rng.randrange(32) for _ in range(52)]
    checksum = _bech32_checksum("age-secret-key-", data)
    return ("age-secret-key-1" + "".join(charset[d] for d in data + checksum)).upper()


PROVIDER_TOKEN_MAKERS: dict[str, Callable[[random.Random], str]] = {
    "anthropic_api_key": lambda r: f"sk-ant-{r.choice(['api03', 'admin01'])}-" + _r(r, _URLSAFE, 93) + "AA",
    "huggingface_token": lambda r: r.choice(["hf_", "api_org_"]) + _r(r, string.ascii_letters, 34),
    "groq_api_key": lambda r: "gsk_" + _r(r, _ALNUM, 52),
    "xai_api_key": lambda r: "xai-" + _r(r, _ALNUM, 80),
    "perplexity_api_key": lambda r: "pplx-" + _r(r, _ALNUM, 48),
    "replicate_api_token": lambda r: "r8_" + _r(r, _ALNUM, 37),
    "langsmith_api_key": lambda r: f"lsv2_{r.choice(['pt', 'sk'])}_" + _r(r, _HEX, 32) + "_" + _r(r, _HEX, 10),
    "npm_access_token": lambda r: with_crc32("npm_", _r(r, _ALNUM, 30)),
    "rubygems_api_key": lambda r: "rubygems_" + _r(r, _HEX, 48),
    "clojars_token": lambda r: "CLOJARS_" + _r(r, _LOWER, 60),
    "docker_hub_pat": lambda r: "dckr_pat_" + _r(r, _URLSAFE, 27),
    "buildkite_token": lambda r: "bkua_" + _r(r, _HEX, 40),
    "sourcegraph_token": lambda r: "sgp_" + _r(r, _HEX, 16) + "_" + _r(r, _HEX, 40),
    "octopus_deploy_api_key": lambda r: "API-" + _r(r, _UPPER, 26),
    "harness_pat": lambda r: "pat." + _r(r, _URLSAFE, 22) + "." + _r(r, _HEX, 24) + "." + _r(r, _ALNUM, 20),
    "google_api_key": lambda r: "AIza" + _r(r, _URLSAFE, 35),
    "google_oauth_client_secret": lambda r: "GOCSPX-" + _r(r, _URLSAFE, 28),
    "azure_ad_client_secret": lambda r: _r(r, _ALNUM, 3) + str(r.randrange(10)) + "Q~" + _r(r, _ALNUM + "_~.-", 34),
    "alibaba_access_key_id": lambda r: "LTAI" + _r(r, _ALNUM, 20),
    "digitalocean_token": lambda r: f"do{r.choice('por')}_v1_" + _r(r, _HEX, 64),
    "heroku_api_key": lambda r: "HRKU-AA" + _r(r, _URLSAFE, 58),
    "flyio_token": lambda r: "fo1_" + _r(r, _URLSAFE, 43),
    "databricks_token": lambda r: "dapi" + _r(r, _HEX, 32),
    "hashicorp_vault_token": lambda r: "hvs." + _r(r, _URLSAFE, 95),
    "terraform_cloud_token": lambda r: _r(r, _LOWER, 14) + ".atlasv1." + _r(r, _LOWER, 67),
    "pulumi_access_token": lambda r: "pul-" + _r(r, _HEX, 40),
    "doppler_token": lambda r: "dp.pt." + _r(r, _ALNUM, 43),
    "planetscale_token": lambda r: f"pscale_{r.choice(['tkn', 'pw', 'oauth'])}_" + _r(r, _ALNUM, 43),
    "supabase_access_token": lambda r: "sbp_" + _r(r, _HEX, 40),
    "cloudflare_origin_ca_key": lambda r: "v1.0-" + _r(r, _HEX, 24) + "-" + _r(r, _HEX, 146),
    "tailscale_key": lambda r: "tskey-auth-k" + _r(r, _ALNUM, 10) + "CNTRL-" + _r(r, _ALNUM, 33),
    "openshift_user_token": lambda r: "sha256~" + _r(r, _URLSAFE, 43),
    "scalingo_api_token": lambda r: "tk-us-" + _r(r, _URLSAFE, 48),
    "prefect_api_key": lambda r: "pnu_" + _r(r, _ALNUM, 36),
    "infracost_api_key": lambda r: "ico-" + _r(r, _ALNUM, 32),
    "grafana_token": lambda r: r.choice(
        [
            "glc_" + base64.b64encode(json.dumps({"o": _r(r, _HEX, 8), "k": _r(r, _ALNUM, 32)}).encode()).decode(),
            "glsa_" + _r(r, _ALNUM, 32) + "_" + _r(r, _HEX, 8),
        ]
    ),
    "new_relic_key": lambda r: r.choice(["NRAK-" + _r(r, _UPPER, 27), "NRJS-" + _r(r, _HEX, 19)]),
    "sentry_token": lambda r: "sntryu_" + _r(r, _HEX, 64),
    "dynatrace_token": lambda r: "dt0c01." + _r(r, _UPPER, 24) + "." + _r(r, _UPPER, 64),
    "slack_app_token": lambda r: f"xapp-1-A{_r(r, _UPPER, 10)}-{r.randrange(10**12, 10**13)}-" + _r(r, _HEX, 64),
    "discord_webhook": lambda r: (
        f"https://discord.com/api/webhooks/{r.randrange(10**17, 10**18)}/" + _r(r, _URLSAFE, 68)
    ),
    "teams_webhook": lambda r: (
        f"https://{_r(r, string.ascii_lowercase, 8)}.webhook.office.com/webhookb2/"
        + f"{uuid.UUID(int=r.getrandbits(128))}@{uuid.UUID(int=r.getrandbits(128))}/IncomingWebhook/"
        + f"{_r(r, _HEX, 32)}/{uuid.UUID(int=r.getrandbits(128))}"
    ),
    "atlassian_api_token": lambda r: "ATATT3" + _r(r, _URLSAFE, 186),
    "linear_api_key": lambda r: "lin_api_" + _r(r, _ALNUM, 40),
    "notion_token": lambda r: "ntn_" + _r(r, string.digits, 11) + _r(r, _ALNUM, 35),
    "airtable_pat": lambda r: "pat" + _r(r, _ALNUM, 14) + "." + _r(r, _HEX, 64),
    "postman_api_key": lambda r: "PMAK-" + _r(r, _HEX, 24) + "-" + _r(r, _HEX, 34),
    "contentful_token": lambda r: "CFPAT-" + _r(r, _URLSAFE, 43),
    "typeform_token": lambda r: "tfp_" + _r(r, _URLSAFE, 59),
    "readme_api_key": lambda r: "rdme_" + _r(r, _LOWER, 70),
    "mapbox_secret_token": lambda r: (
        "sk." + _b64url_json({"u": _r(r, _LOWER, 8), "a": _r(r, _ALNUM, 25)}) + "." + _r(r, _URLSAFE, 22)
    ),
    "frameio_token": lambda r: "fio-u-" + _r(r, _URLSAFE, 64),
    "brevo_api_key": lambda r: "xkeysib-" + _r(r, _HEX, 64) + "-" + _r(r, _ALNUM, 16),
    "onepassword_service_token": lambda r: (
        "ops_"
        + base64.b64encode(json.dumps({"signInAddress": "my.1password.com", "k": _r(r, _ALNUM, 260)}).encode())
        .decode()
        .rstrip("=")
    ),
    "stripe_webhook_secret": lambda r: "whsec_" + _r(r, _ALNUM, 32),
    "shopify_token": lambda r: f"shp{r.choice(['at', 'ca', 'pa', 'ss'])}_" + _r(r, _HEX, 32),
    "square_access_token": lambda r: "EAAA" + _r(r, _URLSAFE, 60),
    "flutterwave_key": lambda r: "FLWSECK_TEST-" + _r(r, "abcdefgh0123456789", 32) + "-X",
    "shippo_api_token": lambda r: f"shippo_{r.choice(['live', 'test'])}_" + _r(r, _HEX, 40),
    "duffel_api_token": lambda r: f"duffel_{r.choice(['live', 'test'])}_" + _r(r, _URLSAFE, 43),
    "easypost_api_key": lambda r: "EZAK" + _r(r, _ALNUM, 54),
    "age_secret_key": _age_key,
}
