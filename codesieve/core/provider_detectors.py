"""Provider token formats detect-secrets 1.5.0 lacks, one rule per format, checksums verified (issue 19).

Each rule is a fixed prefix (the prefilter the scanner runs over the whole text) and the token's
documented shape; where the format carries a checksum (GitHub's and npm's CRC32, age's Bech32),
a token whose checksum does not match is not reported, so look-alikes, placeholders and
hand-typed examples are never flagged. Facts come from each provider's token documentation and
gitleaks' rule set (github.com/gitleaks/gitleaks, cmd/generate/config/rules/*.go), named per rule;
the regexes are ours. Every rule starts at a token boundary and ends at one, so a match is one
token, never a piece of a longer identifier, and each start is tried once (linear scans).
"""

from __future__ import annotations

import re
import string
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.jwt import JwtTokenDetector

__all__ = [
    "PROVIDER_RULES",
    "ArtifactoryBoundedDetector",
    "GitHubTokenCheckedDetector",
    "ProviderRule",
    "TOKEN_END",
    "age_bech32_valid",
    "base62_crc32",
    "crc32_suffix_valid",
    "fails_its_checksum",
    "has_filler_run",
    "rule_plugin_class",
]

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def base62_crc32(body: str) -> str:
    """The 6-character base62 CRC32 of `body`, as GitHub and npm append it to their tokens.

    Args:
        body: the token's random part (after the `ghp_`/`npm_` prefix, without the checksum).
    Returns:
        CRC32(body) in base62 (digits, upper, lower case), left-padded with "0" to 6 characters.
        Source: github.blog 2021-04-05 "Behind GitHub's new authentication token formats";
        github.blog 2021-09-23 "Announcing npm's new access token format".
    """
    value = zlib.crc32(body.encode("ascii"))
    digits = ""
    while value:
        value, rem = divmod(value, 62)
        digits = _BASE62[rem] + digits
    return digits.rjust(6, "0")


def crc32_suffix_valid(token: str) -> bool:
    """True when `prefix_` + 30 random characters + 6-character base62 CRC32 of them checks out."""
    body = token.split("_", 1)[1] if "_" in token else ""
    return len(body) == 36 and body.isascii() and base62_crc32(body[:30]) == body[30:]


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def age_bech32_valid(token: str) -> bool:
    """True when an age secret key's Bech32 checksum verifies (BIP-173; age uses HRP age-secret-key-)."""
    lowered = token.lower()
    hrp, _, data = lowered.rpartition("1")
    if not hrp or any(c not in _BECH32 for c in data):
        return False
    checksum = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.index(c) for c in data]:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_BECH32_GEN):
            if (top >> i) & 1:
                checksum ^= gen
    return checksum == 1


@dataclass(frozen=True, slots=True)
class ProviderRule:
    """One provider token format.

    `prefilter` is a literal-led regex that every match contains (run once over the whole text), or
    several, one of which every match contains (a literal each: faster than one alternation);
    `pattern` matches the token itself; `checksum`, when set, must accept the token.
    """

    detector: str
    provider: str
    prefilter: str | tuple[str, ...]
    pattern: str
    source: str
    checksum: Callable[[str], bool] | None = None
    placeholder: str = ""  # default `<DETECTOR>`; shared where detect-secrets names the same token

    @property
    def redaction(self) -> str:
        return self.placeholder or f"<{self.detector.upper()}>"


# Token boundaries: a token is not preceded or followed by another token character.
_B = r"(?<![A-Za-z0-9_-])"
TOKEN_END = r"(?![A-Za-z0-9_-])"
_E = TOKEN_END

PROVIDER_RULES: tuple[ProviderRule, ...] = (
    # --- AI providers
    ProviderRule(
        "anthropic_api_key",
        "Anthropic",
        r"sk-ant-",
        _B + r"sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA" + _E,
        "gitleaks rules/anthropic.go (api03 / admin01 keys, 93 characters then AA)",
    ),
    ProviderRule(
        "huggingface_token",
        "Hugging Face",
        ("hf_", "api_org_"),
        _B + r"(?:hf_|api_org_)[A-Za-z]{34}" + _E,
        "gitleaks rules/huggingface.go; huggingface.co/docs/hub/security-tokens",
    ),
    ProviderRule(
        "groq_api_key", "Groq", r"gsk_", _B + r"gsk_[A-Za-z0-9]{52}" + _E, "gitleaks rules/groq.go (gsk_ + 52)"
    ),
    ProviderRule("xai_api_key", "xAI", r"xai-", _B + r"xai-[A-Za-z0-9_]{80}" + _E, "gitleaks rules/xai.go (xai- + 80)"),
    ProviderRule(
        "perplexity_api_key",
        "Perplexity",
        r"pplx-",
        _B + r"pplx-[A-Za-z0-9]{48}" + _E,
        "gitleaks rules/perplexity.go (pplx- + 48)",
    ),
    ProviderRule(
        "replicate_api_token",
        "Replicate",
        r"r8_",
        _B + r"r8_[A-Za-z0-9]{37}" + _E,
        "replicate.com/docs/topics/security/api-tokens (r8_ + 37)",
    ),
    ProviderRule(
        "langsmith_api_key",
        "LangChain LangSmith",
        r"lsv2_",
        _B + r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}" + _E,
        "gitleaks rules/langchain.go (lsv2_pt_/lsv2_sk_)",
    ),
    # --- code hosting, package registries, CI
    ProviderRule(
        "npm_access_token",
        "npm",
        r"npm_",
        _B + r"npm_[A-Za-z0-9]{36}" + _E,
        "github.blog 2021-09-23 npm access token format (npm_ + 30 + base62 CRC32); gitleaks rules/npm.go",
        crc32_suffix_valid,
        "<NPM_TOKEN>",
    ),
    ProviderRule(
        "rubygems_api_key",
        "RubyGems",
        r"rubygems_",
        _B + r"rubygems_[a-f0-9]{48}" + _E,
        "gitleaks rules/rubygems.go (rubygems_ + 48 hex)",
    ),
    ProviderRule(
        "clojars_token",
        "Clojars",
        r"CLOJARS_",
        _B + r"CLOJARS_[a-z0-9]{60}" + _E,
        "gitleaks rules/clojars.go (CLOJARS_ + 60)",
    ),
    ProviderRule(
        "docker_hub_pat",
        "Docker Hub",
        r"dckr_pat_",
        _B + r"dckr_pat_[A-Za-z0-9_-]{27}" + _E,
        "docs.docker.com/security/for-developers/access-tokens (dckr_pat_ + 27)",
    ),
    ProviderRule(
        "buildkite_token",
        "Buildkite",
        r"bkua_",
        _B + r"bkua_[a-f0-9]{40}" + _E,
        "buildkite.com/docs/apis/managing-api-tokens (bkua_ + 40 hex)",
    ),
    ProviderRule(
        "sourcegraph_token",
        "Sourcegraph",
        r"sgp_",
        _B + r"sgp_(?:(?:[a-fA-F0-9]{16}|local)_)?[a-fA-F0-9]{40}" + _E,
        "gitleaks rules/sourcegraph.go (sgp_<instance>_<40 hex>, and sgp_<40 hex> without an instance)",
    ),
    ProviderRule(
        "octopus_deploy_api_key",
        "Octopus Deploy",
        r"API-",
        _B + r"API-[A-Z0-9]{26}" + _E,
        "gitleaks rules/octopus_deploy.go (API- + 26)",
    ),
    ProviderRule(
        "harness_pat",
        "Harness",
        (r"pat\.", r"sat\."),
        _B + r"[ps]at\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}" + _E,
        "gitleaks rules/harness.go (personal pat. and service-account sat. tokens: <account>.<24>.<20>)",
    ),
    # --- cloud platforms
    ProviderRule(
        "google_api_key",
        "Google Cloud",
        r"AIza",
        _B + r"AIza[A-Za-z0-9_-]{35}" + _E,
        "cloud.google.com/docs/authentication/api-keys; gitleaks rules/gcp.go (AIza + 35)",
    ),
    ProviderRule(
        "google_oauth_client_secret",
        "Google OAuth",
        r"GOCSPX-",
        _B + r"GOCSPX-[A-Za-z0-9_-]{28}" + _E,
        "gitleaks rules/gcp.go (GOCSPX- + 28)",
    ),
    ProviderRule(
        "azure_ad_client_secret",
        "Microsoft Entra ID",
        r"Q~",
        _B + r"[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}" + _E,
        "gitleaks rules/azure.go (client secrets: 3 chars, digit, Q~, 31-34 chars)",
    ),
    ProviderRule(
        "alibaba_access_key_id",
        "Alibaba Cloud",
        r"LTAI",
        _B + r"LTAI[A-Za-z0-9]{20}" + _E,
        "gitleaks rules/alibaba.go (LTAI + 20)",
    ),
    ProviderRule(
        "digitalocean_token",
        "DigitalOcean",
        r"do[por]_v1_",
        _B + r"do[por]_v1_[a-f0-9]{64}" + _E,
        "docs.digitalocean.com/reference/api/create-personal-access-token; gitleaks rules/digitalocean.go",
    ),
    ProviderRule(
        "heroku_api_key",
        "Heroku",
        r"HRKU-",
        _B + r"HRKU-AA[A-Za-z0-9_-]{58}" + _E,
        "gitleaks rules/heroku.go (v2 keys: HRKU-AA + 58)",
    ),
    ProviderRule(
        "flyio_token",
        "Fly.io",
        ("fo1_", "fm1", "fm2_"),
        _B + r"(?:fo1_[A-Za-z0-9_-]{43}" + _E + r"|(?:fm1[ar]|fm2)_[A-Za-z0-9+/]{100,}={0,3}(?![A-Za-z0-9_+/=-]))",
        "gitleaks rules/flyio.go (fo1_ + 43; macaroon tokens fm1a_/fm1r_/fm2_ + 100 or more base64)",
    ),
    ProviderRule(
        "databricks_token",
        "Databricks",
        r"dapi",
        _B + r"dapi[a-f0-9]{32}(?:-\d)?" + _E,
        "docs.databricks.com/dev-tools/auth/pat.html; gitleaks rules/databricks.go (dapi + 32 hex)",
    ),
    ProviderRule(
        "hashicorp_vault_token",
        "HashiCorp Vault",
        r"hv[sb]\.",
        _B + r"(?:hvs\.[A-Za-z0-9_-]{90,120}|hvb\.[A-Za-z0-9_-]{138,300})" + _E,
        "developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes; gitleaks rules/hashicorp_vault.go",
    ),
    ProviderRule(
        "terraform_cloud_token",
        "HashiCorp Terraform Cloud",
        r"\.atlasv1\.",
        _B + r"[a-z0-9]{14}\.atlasv1\.[a-z0-9_=-]{60,70}" + _E,
        "gitleaks rules/hashicorp.go (<14>.atlasv1.<60-70>)",
    ),
    ProviderRule(
        "pulumi_access_token",
        "Pulumi",
        r"pul-",
        _B + r"pul-[a-f0-9]{40}" + _E,
        "gitleaks rules/pulumi.go (pul- + 40 hex)",
    ),
    ProviderRule(
        "doppler_token",
        "Doppler",
        r"dp\.pt\.",
        _B + r"dp\.pt\.[A-Za-z0-9]{43}" + _E,
        "docs.doppler.com/reference/auth-token-formats; gitleaks rules/doppler.go",
    ),
    ProviderRule(
        "planetscale_token",
        "PlanetScale",
        r"pscale_",
        _B + r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64}" + _E,
        "gitleaks rules/planetscale.go (pscale_tkn_/pscale_pw_/pscale_oauth_)",
    ),
    ProviderRule(
        "supabase_access_token",
        "Supabase",
        r"sbp_",
        _B + r"sbp_[a-f0-9]{40}" + _E,
        "supabase.com/docs/reference/api/introduction (personal access tokens: sbp_ + 40 hex)",
    ),
    ProviderRule(
        "cloudflare_origin_ca_key",
        "Cloudflare",
        r"v1\.0-",
        _B + r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}" + _E,
        "gitleaks rules/cloudflare.go (origin CA keys: v1.0-<24 hex>-<146 hex>)",
    ),
    ProviderRule(
        "tailscale_key",
        "Tailscale",
        r"tskey-",
        _B + r"tskey-(?:api|auth|client|webhook|scim)-[A-Za-z0-9]{6,}-[A-Za-z0-9]{20,}" + _E,
        "tailscale.com/kb/1277/key-prefixes (tskey-<kind>-<id>-<secret>)",
    ),
    ProviderRule(
        "openshift_user_token",
        "Red Hat OpenShift",
        r"sha256~",
        _B + r"sha256~[A-Za-z0-9_-]{43}" + _E,
        "docs.redhat.com OpenShift 4 authentication (OAuth access tokens: sha256~ + 43); gitleaks rules/openshift.go",
    ),
    ProviderRule(
        "scalingo_api_token",
        "Scalingo",
        r"tk-us-",
        _B + r"tk-us-[A-Za-z0-9_-]{48}" + _E,
        "gitleaks rules/scalingo.go (tk-us- + 48)",
    ),
    ProviderRule(
        "prefect_api_key",
        "Prefect",
        r"pnu_",
        _B + r"pnu_[A-Za-z0-9]{36}" + _E,
        "gitleaks rules/prefect.go (pnu_ + 36)",
    ),
    ProviderRule(
        "infracost_api_key",
        "Infracost",
        r"ico-",
        # Not after a dot either: `favicon.ico-<32 hex>.png` is a fingerprinted asset name.
        r"(?<![A-Za-z0-9_.-])ico-[A-Za-z0-9]{32}" + _E,
        "gitleaks rules/infracost.go (ico- + 32)",
    ),
    # --- observability
    ProviderRule(
        "grafana_token",
        "Grafana",
        r"gl(?:c|sa)_",
        _B + r"(?:glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})(?![A-Za-z0-9_+/=-])",
        "gitleaks rules/grafana.go (cloud glc_, service-account glsa_)",
    ),
    ProviderRule(
        "new_relic_key",
        "New Relic",
        r"NR(?:AK|JS|II)-",
        _B + r"(?:NRAK-[A-Z0-9]{27}|NRJS-[a-f0-9]{19}|NRII-[A-Za-z0-9-]{32})" + _E,
        "docs.newrelic.com/docs/apis/intro-apis/new-relic-api-keys; gitleaks rules/newrelic.go",
    ),
    ProviderRule(
        "sentry_token",
        "Sentry",
        r"sntry[us]_",
        _B + r"(?:sntryu_[a-f0-9]{64}|sntrys_eyJ[A-Za-z0-9+/=_]{60,400})(?![A-Za-z0-9_+/=-])",
        "docs.sentry.io/account/auth-tokens; gitleaks rules/sentry.go (sntryu_, sntrys_)",
    ),
    ProviderRule(
        "dynatrace_token",
        "Dynatrace",
        r"dt0c01\.",
        _B + r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}" + _E,
        "docs.dynatrace.com/docs/manage/identity-access-management/access-tokens-and-oauth-clients/access-tokens",
    ),
    # --- collaboration, SaaS
    ProviderRule(
        "slack_app_token",
        "Slack",
        r"xapp-",
        _B + r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,}" + _E,
        "gitleaks rules/slack.go (app-level tokens xapp-)",
    ),
    ProviderRule(
        "discord_webhook",
        "Discord",
        r"discord(?:app)?\.com/api/webhooks/",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_-]{60,68}" + _E,
        "discord.com/developers/docs/resources/webhook",
    ),
    ProviderRule(
        "teams_webhook",
        "Microsoft Teams",
        r"webhook\.office\.com/",
        # The reported value is the URL's 32-hex secret part: the UUIDs around it would make
        # detect-secrets' is_potential_uuid filter drop the whole URL.
        r"https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/[a-f0-9-]{36}@[a-f0-9-]{36}/IncomingWebhook/"
        r"([a-f0-9]{32})/[a-f0-9-]{36}",
        "gitleaks rules/teams.go (incoming webhook URL)",
    ),
    ProviderRule(
        "atlassian_api_token",
        "Atlassian",
        r"ATATT3",
        _B + r"ATATT3[A-Za-z0-9_=-]{186}" + _E,
        "gitleaks rules/atlassian.go (ATATT3 + 186)",
    ),
    ProviderRule(
        "linear_api_key",
        "Linear",
        r"lin_api_",
        _B + r"lin_api_[A-Za-z0-9]{40}" + _E,
        "gitleaks rules/linear.go (lin_api_ + 40)",
    ),
    ProviderRule(
        "notion_token",
        "Notion",
        r"ntn_",
        _B + r"ntn_[0-9]{11}[A-Za-z0-9]{35}" + _E,
        "gitleaks rules/notion.go (ntn_ + 11 digits + 35)",
    ),
    ProviderRule(
        "airtable_pat",
        "Airtable",
        r"pat[A-Za-z0-9]{14}\.",
        _B + r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}" + _E,
        "airtable.com/developers/web/guides/personal-access-tokens; gitleaks rules/airtable.go",
    ),
    ProviderRule(
        "postman_api_key",
        "Postman",
        r"PMAK-",
        _B + r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}" + _E,
        "gitleaks rules/postman.go (PMAK-<24 hex>-<34 hex>)",
    ),
    ProviderRule(
        "contentful_token",
        "Contentful",
        r"CFPAT-",
        _B + r"CFPAT-[A-Za-z0-9_-]{43}" + _E,
        "gitleaks rules/contentful.go (CFPAT- + 43)",
    ),
    ProviderRule(
        "typeform_token",
        "Typeform",
        r"tfp_",
        _B + r"tfp_[A-Za-z0-9_.=-]{59}" + _E,
        "gitleaks rules/typeform.go (tfp_ + 59)",
    ),
    ProviderRule(
        "readme_api_key",
        "ReadMe",
        r"rdme_",
        _B + r"rdme_[a-z0-9]{70}" + _E,
        "gitleaks rules/readme.go (rdme_ + 70)",
    ),
    ProviderRule(
        "mapbox_secret_token",
        "Mapbox",
        r"sk\.eyJ",
        _B + r"sk\.eyJ[A-Za-z0-9_-]{20,200}\.[A-Za-z0-9_-]{22}" + _E,
        "docs.mapbox.com/help/glossary/access-token (secret tokens: sk.<base64 JSON>.<22>)",
    ),
    ProviderRule(
        "frameio_token",
        "Frame.io",
        r"fio-u-",
        _B + r"fio-u-[A-Za-z0-9_=-]{64}" + _E,
        "gitleaks rules/frameio.go (fio-u- + 64)",
    ),
    ProviderRule(
        "brevo_api_key",
        "Brevo (Sendinblue)",
        r"xkeysib-",
        _B + r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}" + _E,
        "gitleaks rules/sendinblue.go (xkeysib-<64 hex>-<16>)",
    ),
    ProviderRule(
        "onepassword_service_token",
        "1Password",
        r"ops_eyJ",
        _B + r"ops_eyJ[A-Za-z0-9+/]{250,}={0,3}(?![A-Za-z0-9_+/=-])",
        "developer.1password.com/docs/service-accounts; gitleaks rules/1password.go (ops_eyJ...)",
    ),
    # --- payments, commerce
    ProviderRule(
        "stripe_webhook_secret",
        "Stripe",
        r"whsec_",
        _B + r"whsec_[A-Za-z0-9]{32,}" + _E,
        "docs.stripe.com/webhooks#verify-webhook-signatures (whsec_)",
    ),
    ProviderRule(
        "shopify_token",
        "Shopify",
        r"shp(?:at|ca|pa|ss)_",
        _B + r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _E,
        "gitleaks rules/shopify.go (shpat_/shpca_/shppa_/shpss_ + 32 hex)",
    ),
    ProviderRule(
        "square_access_token",
        "Square",
        ("EAAA", "sq0atp-"),
        _B + r"(?:EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22})" + _E,
        "developer.squareup.com/docs/build-basics/access-tokens; gitleaks rules/square.go",
    ),
    ProviderRule(
        "flutterwave_key",
        "Flutterwave",
        r"FLWSECK",
        _B + r"FLWSECK(?:_TEST)?-[a-h0-9]{32}-X" + _E,
        "gitleaks rules/flutterwave.go (FLWSECK-<32>-X)",
    ),
    ProviderRule(
        "shippo_api_token",
        "Shippo",
        r"shippo_",
        _B + r"shippo_(?:live|test)_[a-fA-F0-9]{40}" + _E,
        "gitleaks rules/shippo.go (shippo_live_/shippo_test_ + 40 hex)",
    ),
    ProviderRule(
        "duffel_api_token",
        "Duffel",
        r"duffel_",
        _B + r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}" + _E,
        "gitleaks rules/duffel.go (duffel_live_/duffel_test_ + 43)",
    ),
    ProviderRule(
        "easypost_api_key",
        "EasyPost",
        ("EZAK", "EZTK"),
        _B + r"EZ[AT]K[A-Za-z0-9]{54}" + _E,
        "gitleaks rules/easypost.go (production EZAK and test EZTK keys + 54)",
    ),
    # --- keys and crypto
    ProviderRule(
        "age_secret_key",
        "age",
        r"AGE-SECRET-KEY-1",
        _B + r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}" + _E,
        "age-encryption.org/v1 (Bech32, HRP age-secret-key-); gitleaks rules/age.go",
        age_bech32_valid,
    ),
)


# Placeholders in docs and templates fill the shape with one character (`hf_xxxx...`,
# `sk-ant-api03-XXXX...`) or a short cycle. Every rule's token holds >= 19 random characters
# besides its prefix: in 20,000 random draws per rule (codesieve/testing/secret_tokens.py makers) none had
# fewer than 10 distinct characters or a run of 8 equal ones.
_MIN_DISTINCT = 10
_RUN_OF_EIGHT = re.compile(r"(.)\1{7}")


def _looks_random(token: str) -> bool:
    return len(set(token)) >= _MIN_DISTINCT and _RUN_OF_EIGHT.search(token) is None


def has_filler_run(value: str) -> bool:
    """True when `value` holds 8 equal characters in a row (`sk_live_xxxxxxxx...`, `AKC0000000...`):
    a placeholder of a credential's shape, not a random credential."""
    return _RUN_OF_EIGHT.search(value) is not None


class _ProviderDetector(RegexBasedDetector):  # type: ignore[misc]
    """A plugin for one ProviderRule: its regex, then its checksum (unless verification is off)."""

    rule: ProviderRule
    check_checksums = True  # False only for scan_cut_off_tail's synthetic continuations

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for regex in self.denylist:
            for match in regex.finditer(string):
                token = match.group(match.lastindex or 0)  # group 1 where a rule names the secret part
                if not _looks_random(token):
                    continue
                if self.check_checksums and self.rule.checksum is not None and not self.rule.checksum(token):
                    continue
                yield token


def _class_name(detector: str) -> str:
    return "".join(part.title() for part in detector.split("_")) + "Detector"


def rule_plugin_class(rule: ProviderRule) -> str:
    """The plugin class name this module defines for `rule`."""
    return _class_name(rule.detector)


for _rule in PROVIDER_RULES:
    globals()[_class_name(_rule.detector)] = type(
        _class_name(_rule.detector),
        (_ProviderDetector,),
        {"rule": _rule, "secret_type": f"{_rule.provider} token", "denylist": [re.compile(_rule.pattern)]},
    )


class GitHubTokenCheckedDetector(RegexBasedDetector):  # type: ignore[misc]
    """GitHub tokens with their checksum verified; replaces detect-secrets' GitHubTokenDetector
    outside parity mode (which accepts any 36 characters after `ghp_`).

    Classic formats `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` are 30 random base62 characters and their
    base62 CRC32 (github.blog 2021-04-05); fine-grained `github_pat_` tokens are 22 + `_` + 59
    characters (gitleaks rules/github.go); GitHub documents no checksum for those, so they are
    matched by shape only.
    """

    secret_type = "GitHub Token"
    denylist = [
        # No boundaries: the checksum alone keeps precision, and a token glued to other text
        # (`ghp_...ghp_...`) is still found, as detect-secrets finds it.
        re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
        re.compile(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _E),
    ]
    check_checksums = True  # False only for scan_cut_off_tail's synthetic continuations

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for regex in self.denylist:
            for match in regex.finditer(string):
                token = match.group(0)
                if self.check_checksums and not token.startswith("github_pat_") and not crc32_suffix_valid(token):
                    continue
                yield token


class ArtifactoryBoundedDetector(RegexBasedDetector):  # type: ignore[misc]
    """JFrog Artifactory API keys (`AKC` + 10 or more) and reference tokens (`AP` + hex digit + 8 or
    more) ending at any non-alphanumeric character; detect-secrets' ArtifactoryDetector needs
    whitespace, `"` or the line end after the key, so `?apikey=AKC...&page=2` or `'AKC...'` was
    missed. Replaces it outside parity mode; values that do not look random (no digit, or one case
    only: `APActivationPolicy` in a list of Cocoa names) are left out."""

    secret_type = "Artifactory Credentials"
    denylist = [re.compile(r"(?<![A-Za-z0-9])(?:AKC[a-zA-Z0-9]{10,}|AP[\dABCDEF][a-zA-Z0-9]{8,})(?![A-Za-z0-9])")]

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for regex in self.denylist:
            for match in regex.finditer(string):
                token = match.group(0)
                mixed = any(c.isdigit() for c in token) and not token.isupper() and not token[3:].islower()
                if mixed and _looks_random(token):
                    yield token


class JwtWithAlgDetector(JwtTokenDetector):  # type: ignore[misc]
    """detect-secrets' JWT check (every part decodes; header and payload are JSON) plus an `alg`
    in the header (RFC 7515 section 4.1.1 makes it required), outside parity mode."""

    @staticmethod
    def is_formally_valid(token: str) -> bool:
        if not JwtTokenDetector.is_formally_valid(token):
            return False
        import base64
        import json

        header = token.split(".", 1)[0]
        try:
            decoded: Any = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        except ValueError:
            return False
        return isinstance(decoded, dict) and isinstance(decoded.get("alg"), str)


_CHECKSUMMED_SHAPES = (
    (re.compile(r"(?:gh[pousr]|npm)_[A-Za-z0-9]{36}"), crc32_suffix_valid),
    (re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{58}"), age_bech32_valid),
)


def fails_its_checksum(value: str) -> bool:
    """True when `value` has the exact shape of a checksummed token format but a wrong checksum (a
    look-alike: a placeholder or a hand-made example), so no guessing rule reports it either."""
    return any(shape.fullmatch(value) and not valid(value) for shape, valid in _CHECKSUMMED_SHAPES)
