"""requests-oauthlib (Debian python3-requests-oauthlib) against the gateway.

Run by test/interop/requests-oauthlib.test.ts with /usr/bin/python3; reads the endpoints and
credentials from the environment and prints one JSON object of what each step observed.
requests-oauthlib sends client credentials as a raw requests.auth.HTTPBasicAuth (not
form-encoded, RFC 6749 §2.3.1) and a client without a secret as Basic with an empty password.
It has no revocation, introspection or discovery API: those steps use requests itself with
the same HTTPBasicAuth, as its users do.
"""
import json
import os

import requests
from oauthlib.oauth2 import LegacyApplicationClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

E = os.environ
out = {}


def identity(resp):
    headers = resp.json().get("headers", {}) if resp.status_code == 200 else {}
    return {"status": resp.status_code, "subject": headers.get("x-auth-subject"), "client_id": headers.get("x-auth-client-id")}


def flow(name, client_id, fetch_kwargs, refresh_kwargs, basic):
    session = OAuth2Session(client=LegacyApplicationClient(client_id=client_id), scope=["read"])
    token = session.fetch_token(E["TOKEN_URL"], username=E["USERNAME"], password=E["PASSWORD"], **fetch_kwargs)
    step = {"password": {"token_type": token.get("token_type"), "has_refresh": "refresh_token" in token}}
    step["resource"] = identity(session.get(E["RESOURCE_URL"]))
    refreshed = session.refresh_token(E["TOKEN_URL"], **refresh_kwargs)
    step["refresh"] = {"new_access": refreshed["access_token"] != token["access_token"]}
    step["resource_after_refresh"] = identity(session.get(E["RESOURCE_URL"]))
    if basic is not None and client_id == E["CLIENT_ID"]:
        info = requests.post(E["INTROSPECTION_URL"], data={"token": refreshed["access_token"]}, auth=basic)
        step["introspection"] = {"status": info.status_code, **info.json()}
    revoke_auth = basic if basic is not None else None
    revoke_data = {"token": refreshed["refresh_token"]}
    if basic is None:
        revoke_data["client_id"] = client_id
    revoked = requests.post(E["REVOCATION_URL"], data=revoke_data, auth=revoke_auth)
    step["revocation"] = {"status": revoked.status_code}
    step["resource_after_revocation"] = {"status": session.get(E["RESOURCE_URL"]).status_code}
    out[name] = step


raw_basic = HTTPBasicAuth(E["CLIENT_ID"], E["CLIENT_SECRET"])
# The default: client_secret given, no auth → a raw HTTPBasicAuth(client_id, client_secret).
flow("basic_raw", E["CLIENT_ID"], {"client_id": E["CLIENT_ID"], "client_secret": E["CLIENT_SECRET"]}, {"auth": raw_basic}, raw_basic)
# include_client_id=True: both in the body (client_secret_post).
flow(
    "body",
    E["CLIENT_ID"],
    {"include_client_id": True, "client_secret": E["CLIENT_SECRET"]},
    {"client_id": E["CLIENT_ID"], "client_secret": E["CLIENT_SECRET"]},
    raw_basic,
)
# A public client with no secret: requests-oauthlib sends HTTPBasicAuth(client_id, "").
public_basic = HTTPBasicAuth(E["PUBLIC_CLIENT_ID"], "")
flow("public_basic_empty_password", E["PUBLIC_CLIENT_ID"], {}, {"auth": public_basic}, None)
flow("public_body", E["PUBLIC_CLIENT_ID"], {"include_client_id": True}, {"client_id": E["PUBLIC_CLIENT_ID"]}, None)

try:
    OAuth2Session(client=LegacyApplicationClient(client_id=E["CLIENT_ID"])).fetch_token(
        E["TOKEN_URL"], username=E["USERNAME"], password=E["PASSWORD"], include_client_id=True, client_secret="wrong"
    )
    out["wrong_secret"] = {"raised": None}
except OAuth2Error as err:
    out["wrong_secret"] = {"raised": type(err).__name__, "error": err.error}

print(json.dumps(out))
