"""The browser's part of the authorization code flow against Hale's sign-in
and consent pages, played by `requests`: shared by the interop scripts."""

import re
from urllib.parse import parse_qsl, urljoin, urlparse

import requests


def form_of(page):
    """The hidden fields of a page's form."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))


def unescape(value):
    return (value.replace("&quot;", '"').replace("&#39;", "'").replace("&lt;", "<")
            .replace("&gt;", ">").replace("&amp;", "&"))


def sign_in(auth_uri, username, password, ca):
    """Opens `auth_uri`, signs in, accepts the consent page when one comes.
    Returns the browser session (for single sign-on later), whether a consent
    page was shown, and the query of the redirect back to the app."""
    browser = requests.Session()
    browser.verify = ca
    page = browser.get(auth_uri, allow_redirects=False)
    action = urljoin(auth_uri, "authorize").split("?")[0]
    fields = {k: unescape(v) for k, v in form_of(page.text).items()}
    fields.update(username=username, password=password)
    answer = browser.post(action, data=fields, allow_redirects=False)
    consent = "Permissions requested" in answer.text
    if consent:
        fields = {k: unescape(v) for k, v in form_of(answer.text).items()}
        fields["decision"] = "accept"
        answer = browser.post(action, data=fields, allow_redirects=False)
    location = answer.headers.get("location", "")
    return browser, consent, location.split("?")[0], dict(parse_qsl(urlparse(location).query))
