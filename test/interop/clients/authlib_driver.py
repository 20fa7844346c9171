"""Authlib (Debian python3-authlib) against the gateway.

Run by test/interop/authlib.test.ts with /usr/bin/python3; prints one JSON object of what each
step observed. Authlib 1.2 builds client_secret_basic from the raw id and secret (not
form-encoded, RFC 6749 §2.3.1). Discovery: Authlib's client has no fetch of RFC 8414 metadata
of its own outside the web-framework integrations, so the document is fetched and checked
with authlib.oauth2.rfc8414.AuthorizationServerMetadata.validate().
"""
import json
import os

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error as ServerOAuth2Error
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

E = os.environ
out = {}


def identity(resp):
    headers = resp.json().get("headers", {}) if resp.status_code == 200 else {}
    return {"status": resp.status_code, "subject": headers.get("x-auth-subject"), "client_id": headers.get("x-auth-client-id")}


def validates(doc):
    try:
        AuthorizationServerMetadata(doc).validate()
        return "ok"
    except ValueError as err:
        return str(err)


document = requests.get(E["METADATA_URL"]).json()
out["discovery"] = {
    "validate": validates(document),
    "token_endpoint": document.get("token_endpoint"),
    "with_empty_response_types": validates({**document, "response_types_supported": []}),
    "without_response_types": validates({k: v for k, v in document.items() if k != "response_types_supported"}),
}


def flow(name, client_id, client_secret, method, introspect):
    session = OAuth2Session(client_id, client_secret, scope="read", token_endpoint_auth_method=method)
    token = session.fetch_token(out["discovery"]["token_endpoint"], username=E["USERNAME"], password=E["PASSWORD"])
    step = {"password": {"token_type": token.get("token_type"), "has_refresh": "refresh_token" in token}}
    step["resource"] = identity(session.get(E["RESOURCE_URL"]))
    refreshed = session.refresh_token(E["TOKEN_URL"])
    step["refresh"] = {"new_access": refreshed["access_token"] != token["access_token"]}
    step["resource_after_refresh"] = identity(session.get(E["RESOURCE_URL"]))
    if introspect:
        info = session.introspect_token(E["INTROSPECTION_URL"], token=refreshed["access_token"])
        step["introspection"] = {"status": info.status_code, **info.json()}
    revoked = session.revoke_token(E["REVOCATION_URL"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
    step["revocation"] = {"status": revoked.status_code}
    step["resource_after_revocation"] = {"status": session.get(E["RESOURCE_URL"]).status_code}
    out[name] = step


flow("basic_raw", E["CLIENT_ID"], E["CLIENT_SECRET"], "client_secret_basic", True)
flow("body", E["CLIENT_ID"], E["CLIENT_SECRET"], "client_secret_post", True)
flow("public_none", E["PUBLIC_CLIENT_ID"], None, "none", False)

for name, method in (("wrong_secret_body", "client_secret_post"), ("wrong_secret_basic", "client_secret_basic")):
    try:
        OAuth2Session(E["CLIENT_ID"], "wrong", token_endpoint_auth_method=method).fetch_token(E["TOKEN_URL"], username=E["USERNAME"], password=E["PASSWORD"])
        out[name] = {"raised": None}
    except (OAuthError, ServerOAuth2Error) as err:
        out[name] = {"raised": type(err).__name__, "error": err.error}

print(json.dumps(out))
