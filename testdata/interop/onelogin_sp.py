"""A SAML SP made of OneLogin's python3-saml (Debian: python3-onelogin-saml2).

idp/pyinterop_test.go runs it as an SP implementation we did not write. It
reads one JSON object on stdin and writes one JSON object on stdout.

mode "response": validate a SAMLResponse as the SP's ACS would, in strict mode
  in:  {"mode": "response", "sp": {...}, "idp": {...}, "want_messages_signed": bool,
        "saml_response": "<base64 as POSTed>", "relay_state": "...", "request_id": "..."}
  out: {"valid": bool, "error": str|null, "nameid": str|null, "attributes": {name: [values]}}

mode "request": make a signed HTTP-Redirect AuthnRequest as the SP's login would
  in:  {"mode": "request", "sp": {...}, "idp": {...}, "return_to": "..."}
  out: {"url": "<SSO URL>?SAMLRequest=..&RelayState=..&Signature=..&SigAlg=..",
        "request_id": "...", "request_xml": "..."}

sp:  {"entity_id", "acs_url", "cert_file", "key_file" (request mode only)}
idp: {"entity_id", "sso_url", "cert_file"}

Bad input or a library failure exits non-zero with the reason on stderr.
"""

import json
import sys
from urllib.parse import urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings


def read_file(path):
    with open(path, encoding="ascii") as f:
        return f.read()


def settings_for(cfg):
    sp, idp = cfg["sp"], cfg["idp"]
    sp_settings = {
        "entityId": sp["entity_id"],
        "assertionConsumerService": {"url": sp["acs_url"], "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST},
        "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_TRANSIENT,
        "x509cert": read_file(sp["cert_file"]),
    }
    if sp.get("key_file"):
        sp_settings["privateKey"] = read_file(sp["key_file"])
    return OneLogin_Saml2_Settings({
        "strict": True,
        "debug": False,
        "sp": sp_settings,
        "idp": {
            "entityId": idp["entity_id"],
            "singleSignOnService": {"url": idp["sso_url"], "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT},
            "x509cert": read_file(idp["cert_file"]),
        },
        "security": {
            "authnRequestsSigned": True,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": bool(cfg.get("want_messages_signed", False)),
            "requestedAuthnContext": False,
            # Not read by python3-saml 1.12 (added in a later release); with
            # request_id given, 1.12 still refuses a mismatching InResponseTo.
            "rejectUnsolicitedResponsesWithInResponseTo": True,
            "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
            "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
        },
    })


def request_data_for(acs_url, post_data=None):
    """The request as the SP's web framework would see a POST to its ACS."""
    u = urlsplit(acs_url)
    https = u.scheme == "https"
    return {
        "https": "on" if https else "off",
        "http_host": u.hostname,
        "server_port": u.port or (443 if https else 80),
        "script_name": u.path,
        "get_data": {},
        "post_data": post_data or {},
    }


def check_response(cfg):
    settings = settings_for(cfg)
    post = {"SAMLResponse": cfg["saml_response"]}
    if cfg.get("relay_state") is not None:
        post["RelayState"] = cfg["relay_state"]
    request_data = request_data_for(cfg["sp"]["acs_url"], post)
    response = OneLogin_Saml2_Response(settings, post["SAMLResponse"])
    valid = response.is_valid(request_data, request_id=cfg["request_id"])
    out = {"valid": bool(valid), "error": response.get_error(), "nameid": None, "attributes": {}}
    if valid:
        out["nameid"] = response.get_nameid()
        out["attributes"] = response.get_attributes()
    return out


def build_request(cfg):
    settings = settings_for(cfg)
    auth = OneLogin_Saml2_Auth(request_data_for(cfg["sp"]["acs_url"]), settings)
    url = auth.login(return_to=cfg["return_to"])
    return {"url": url, "request_id": auth.get_last_request_id(), "request_xml": auth.get_last_request_xml()}


MODES = {"response": check_response, "request": build_request}


def main():
    cfg = json.load(sys.stdin)
    mode = MODES.get(cfg.get("mode"))
    if mode is None:
        sys.exit("onelogin_sp.py: mode must be one of %s" % ", ".join(sorted(MODES)))
    json.dump(mode(cfg), sys.stdout)


if __name__ == "__main__":
    main()
