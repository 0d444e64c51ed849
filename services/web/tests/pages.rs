//! The pages over a real HTTP server on each backend, as a browser without JavaScript uses
//! them: the link exchanged for a cookie and a clean URL, the headers every page carries,
//! forms that need this browser's CSRF token, giving and withdrawing consent, the access
//! history a client sees, the receipt as a file, and the auditor's export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::Utc;
use confide_domain::policy::{ClientCopies, TenantPolicy};
use confide_domain::{Purpose, Role};
use confide_test_support::audio::{upload, wav};
use confide_test_support::both_backends;
use confide_test_support::clinic::{Clinic, OverHttp};
use confide_test_support::server::{Backend, Server, spawn_app};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

const TENANT: &str = "clinic";
const FORM: &str =
    "We record sessions for your practitioner's supervision. Only the people named may listen.";

/// A browser without JavaScript: it keeps cookies and reads the CSRF token from the forms.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Browser {
    fn new(server: &Server) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", server.address),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let line = value.to_str().unwrap();
            let (pair, _) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.page(response).await
    }

    /// Posts `fields` with this browser's CSRF token.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self
            .cookies
            .get("confide_csrf")
            .cloned()
            .unwrap_or_default();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form, &[]).await
    }

    async fn post_raw(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.page(response).await
    }

    async fn page(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.keep(&headers);
        Page {
            status,
            headers,
            body: response.text().await.unwrap(),
        }
    }
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).unwrap().to_str().unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn set_cookie(&self, name: &str) -> String {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with(&format!("{name}=")))
            .unwrap_or_default()
    }
}

/// A clinic whose client gave a supervision consent naming `ada` (a tutor), with a second
/// consent asked and not yet answered; its link (a URL) and the second consent's id.
async fn clinic(server: &Server) -> (OverHttp, String, Value) {
    let clinic = Clinic::new(TENANT)
        .member("ada", Role::Tutor)
        .member("eve", Role::Tutor)
        .member("audrey", Role::Auditor)
        .form(FORM)
        .consent("sam", &[(Purpose::Supervision, &["ada"])])
        .open_over_http(server)
        .await;
    let requested = server
        .ok(
            &clinic.practitioner,
            "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { url token } } }",
            json!({ "input": {
                "clientId": clinic.client,
                "consentFormId": clinic.form["id"],
                "sessionOn": Utc::now().date_naive(),
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada", "eve"], "media": ["AUDIO"] }],
            } }),
        )
        .await["requestConsent"]
        .clone();
    let url = requested["clientLink"]["url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!(
            "http://{}/link/{}",
            server.address,
            requested["clientLink"]["token"].as_str().unwrap()
        )
    );
    (clinic, url, requested["consent"]["id"].clone())
}

async fn consent_status(server: &Server, token: &str, consent: &Value) -> Value {
    server
        .ok(
            token,
            "query($id: UUID!) { consent(id: $id) { status deletionRequested } }",
            json!({ "id": consent }),
        )
        .await["consent"]
        .clone()
}

/// Opens the client's link in `browser`: the path of the URL, as a browser follows it.
async fn open(browser: &mut Browser, url: &str) -> Page {
    let path = url
        .split_once("/link/")
        .map(|(_, s)| format!("/link/{s}"))
        .unwrap();
    browser.get(&path).await
}

async fn a_link_opens_the_clients_pages_and_leaves_no_secret_behind(server: Server) {
    let (_, url, consent) = clinic(&server).await;
    let mut browser = Browser::new(&server);
    let opened = open(&mut browser, &url).await;
    assert_eq!(opened.status, 303);
    assert_eq!(opened.location(), "/me");
    let kept = opened.set_cookie("confide_link");
    assert!(kept.contains("HttpOnly"), "{kept}");
    assert!(kept.contains("SameSite=Lax"), "{kept}");
    assert!(!kept.contains("Secure"), "plain HTTP here: {kept}");
    assert!(
        opened
            .set_cookie("confide_csrf")
            .contains("SameSite=Strict")
    );

    let home = browser.get("/me").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert_eq!(
        home.header("content-security-policy"),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self'; connect-src 'self'; worker-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(home.header("referrer-policy"), "no-referrer");
    assert_eq!(home.header("x-frame-options"), "DENY");
    assert_eq!(home.header("cache-control"), "no-store");
    assert!(home.body.contains("Recording consent"), "{}", home.body);
    assert!(
        home.body
            .contains(&format!("/me/consents/{}", consent.as_str().unwrap()))
    );
    assert!(
        !home.body.contains(url.rsplit('/').next().unwrap()),
        "the secret is not on the page"
    );
    assert!(!home.body.contains("<script>"), "no inline script");
}

async fn a_forged_expired_or_missing_link_gets_a_page_that_says_what_to_do(server: Server) {
    let (clinic, url, _) = clinic(&server).await;
    let mut browser = Browser::new(&server);
    let missing = browser.get("/me").await;
    assert_eq!(missing.status, 401);
    assert!(
        missing.body.contains("Open your link again"),
        "{}",
        missing.body
    );
    let mut forged = url.clone();
    forged.pop();
    forged.push(if url.ends_with('A') { 'B' } else { 'A' });
    for path in [forged.as_str(), "http://x/link/not-a-token"] {
        let page = open(&mut browser, path).await;
        assert_eq!(page.status, 401);
        assert!(
            page.body.contains("This link cannot be used"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Ask the person who sent you the link"));
        assert!(page.set_cookie("confide_link").is_empty());
    }
    // A member's token is not a client's link.
    let staff = open(
        &mut browser,
        &format!("http://x/link/{}", clinic.practitioner),
    )
    .await;
    assert_eq!(staff.status, 401);
    assert_eq!(browser.get("/me").await.status, 401);
}

async fn the_client_reads_gives_and_withdraws_with_forms_that_need_this_browsers_token(
    server: Server,
) {
    let (clinic, url, consent) = clinic(&server).await;
    let id = consent.as_str().unwrap();
    let sam = &clinic.practitioner;
    let mut browser = Browser::new(&server);
    open(&mut browser, &url).await;
    let page = browser.get(&format!("/me/consents/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&escaped(FORM)), "the form's exact text");
    let sha = hex_sha256(FORM);
    assert!(page.body.contains(&sha), "its SHA-256");
    assert!(page.body.contains("ada, eve"), "who may listen");
    assert!(page.body.contains("I give my consent"));

    // Without this browser's token, or from another site, nothing changes.
    let stale = browser
        .post_raw(
            &format!("/me/consents/{id}/give"),
            &[
                ("csrf", "0".repeat(64).as_str()),
                ("typed_name", "Chris Client"),
            ],
            &[],
        )
        .await;
    assert_eq!(stale.status, 403);
    assert!(stale.body.contains("This form has expired"));
    let csrf = browser.cookies["confide_csrf"].clone();
    let cross = browser
        .post_raw(
            &format!("/me/consents/{id}/give"),
            &[("csrf", &csrf), ("typed_name", "Chris Client")],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, 403);
    assert_eq!(
        consent_status(&server, sam, &consent).await["status"],
        "REQUESTED"
    );

    // An empty name is refused with a sentence, and nothing changes.
    let empty = browser
        .post(&format!("/me/consents/{id}/give"), &[("typed_name", "  ")])
        .await;
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert_eq!(
        consent_status(&server, sam, &consent).await["status"],
        "REQUESTED"
    );

    let given = browser
        .post(
            &format!("/me/consents/{id}/give"),
            &[("typed_name", "Chris Client")],
        )
        .await;
    assert_eq!(given.status, 303, "{}", given.body);
    assert_eq!(
        given.location(),
        format!("/me/consents/{id}?done=given#outcome")
    );
    assert_eq!(
        consent_status(&server, sam, &consent).await["status"],
        "GIVEN"
    );
    let thanked = browser.get(&format!("/me/consents/{id}?done=given")).await;
    assert!(thanked.body.contains("Thank you: your consent is given"));
    assert!(thanked.body.contains("Withdraw your consent"));
    assert!(
        thanked
            .body
            .contains(&format!("/me/consents/{id}/receipt.json"))
    );

    // One listener only, then the whole with deletion.
    let one = browser
        .post(
            &format!("/me/consents/{id}/withdraw"),
            &[("scope", "listener:supervision:eve")],
        )
        .await;
    assert_eq!(one.status, 303, "{}", one.body);
    let after = browser.get(&format!("/me/consents/{id}")).await;
    assert!(after.body.contains("<dd>ada</dd>"), "{}", after.body);
    assert_eq!(
        consent_status(&server, sam, &consent).await["status"],
        "GIVEN"
    );
    let whole = browser
        .post(
            &format!("/me/consents/{id}/withdraw"),
            &[("scope", "whole"), ("delete", "yes")],
        )
        .await;
    assert_eq!(whole.status, 303, "{}", whole.body);
    let status = consent_status(&server, sam, &consent).await;
    assert_eq!(status["status"], "WITHDRAWN");
    assert_eq!(status["deletionRequested"], true);
    let told = browser
        .get(&format!("/me/consents/{id}?done=withdrawn"))
        .await;
    assert!(
        told.body.contains("Your withdrawal is recorded"),
        "{}",
        told.body
    );
    assert!(told.body.contains("are being destroyed"));
    let bad = browser
        .post(&format!("/me/consents/{id}/withdraw"), &[("scope", "most")])
        .await;
    assert_eq!(bad.status, 400);
}

/// `text` as the pages write it in HTML.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn hex_sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

async fn the_client_sees_every_access_and_every_refused_attempt(server: Server) {
    let (clinic, url, _) = clinic(&server).await;
    let sam = &clinic.practitioner;
    let recording = server
        .ok(
            sam,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
            json!({ "c": clinic.consent, "d": Utc::now().date_naive() }),
        )
        .await["createRecording"]["id"]
        .clone();
    let id = recording.as_str().unwrap();
    let (status, _) = upload(server.address, id, sam, &wav(1)).await;
    assert_eq!(status, 201);
    let play =
        "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed } }";
    let ada = server.token(TENANT, "ada");
    let eve = server.token(TENANT, "eve");
    assert_eq!(
        server.ok(&ada, play, json!({ "r": id })).await["startPlayback"]["allowed"],
        true
    );
    assert_eq!(
        server.ok(&eve, play, json!({ "r": id })).await["startPlayback"]["allowed"],
        false
    );

    let mut browser = Browser::new(&server);
    open(&mut browser, &url).await;
    let home = browser.get("/me").await;
    assert!(home.body.contains(&format!("/me/recordings/{id}")));
    let page = browser.get(&format!("/me/recordings/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("listened for clinical supervision"),
        "{}",
        page.body
    );
    assert!(page.body.contains(">ada</td>"));
    assert!(page.body.contains(">eve</td>"));
    assert!(page.body.contains("Refused"));
    assert!(
        page.body.contains("the consent does not cover it"),
        "the refusal's reason, in the domain's words: {}",
        page.body
    );
    // The organisation gives no copies: asking is refused, and the refusal is on record.
    let asked = browser
        .post(&format!("/me/recordings/{id}/listen"), &[])
        .await;
    assert_eq!(asked.status, 403, "{}", asked.body);
    assert!(!asked.body.contains("<audio"));
    let again = browser.get(&format!("/me/recordings/{id}")).await;
    assert!(
        again.body.contains("tried to listen for your own copy"),
        "{}",
        again.body
    );
}

async fn the_client_listens_to_their_own_copy_with_a_player_that_seeks(server: Server) {
    let clinic = Clinic::new(TENANT)
        .consent("sam", &[(Purpose::ClientCopy, &[])])
        .policy(TenantPolicy {
            client_copies: ClientCopies::Allowed,
            ..confide_test_support::server::counselling_policy()
        })
        .open_over_http(&server)
        .await;
    let sam = &clinic.practitioner;
    let recording = server
        .ok(
            sam,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
            json!({ "c": clinic.consent, "d": Utc::now().date_naive() }),
        )
        .await["createRecording"]["id"]
        .clone();
    let id = recording.as_str().unwrap();
    assert_eq!(upload(server.address, id, sam, &wav(1)).await.0, 201);
    let mut browser = Browser::new(&server);
    open(&mut browser, &format!("http://x/link/{}", clinic.link)).await;
    let page = browser.get(&format!("/me/recordings/{id}")).await;
    assert!(page.body.contains("Listen to your copy"), "{}", page.body);
    let player = browser
        .post(&format!("/me/recordings/{id}/listen"), &[])
        .await;
    assert_eq!(player.status, 200, "{}", player.body);
    let src = player
        .body
        .split("<audio controls preload=\"metadata\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a player")
        .to_owned();
    assert!(src.starts_with("/v1/media/"), "{src}");
    let range = reqwest::Client::new()
        .get(format!("http://{}{src}", server.address))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.bytes().await.unwrap().len(), 100);
    let history = browser.get(&format!("/me/recordings/{id}")).await;
    assert!(
        history.body.contains("listened for your own copy"),
        "{}",
        history.body
    );
}

async fn a_german_form_gets_its_page_in_german(server: Server) {
    let (clinic, _, _) = clinic(&server).await;
    let form = server
        .ok(
            &clinic.admin,
            "mutation($t: String!) { publishConsentForm(title: \"Einwilligung zur Aufzeichnung\", language: \"de-DE\", text: $t) { id } }",
            json!({ "t": "Wir zeichnen Sitzungen für die Supervision auf." }),
        )
        .await["publishConsentForm"]["id"]
        .clone();
    let requested = server
        .ok(
            &clinic.practitioner,
            "mutation($input: RequestConsentInput!) { requestConsent(input: $input) { consent { id } clientLink { url } } }",
            json!({ "input": {
                "clientId": clinic.client, "consentFormId": form,
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            } }),
        )
        .await["requestConsent"]
        .clone();
    let mut browser = Browser::new(&server);
    open(
        &mut browser,
        requested["clientLink"]["url"].as_str().unwrap(),
    )
    .await;
    let id = requested["consent"]["id"].as_str().unwrap();
    let page = browser.get(&format!("/me/consents/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"de\">"), "{}", page.body);
    assert!(page.body.contains("Ich willige ein"));
    assert!(
        page.body
            .contains("Worin Sie einwilligen, in einfachen Worten")
    );
    assert!(
        page.body
            .contains("die Supervision Ihrer Beraterin oder Ihres Beraters")
    );
    let home = browser.get("/me").await;
    assert!(
        home.body.contains("Ihre Einwilligungen und Aufzeichnungen"),
        "the latest form's language"
    );
}

async fn another_clients_consent_and_recording_are_not_found(server: Server) {
    let (clinic, _, consent) = clinic(&server).await;
    let other = server
        .register_client(&clinic.practitioner, "Dana Other", "dana@example.org")
        .await;
    let (_, token) = server
        .request_consent(
            &clinic.practitioner,
            json!({
                "clientId": other, "consentFormId": clinic.form["id"],
                "purposes": [{ "purpose": "SUPERVISION", "users": ["ada"], "media": ["AUDIO"] }],
            }),
        )
        .await;
    let mut browser = Browser::new(&server);
    open(&mut browser, &format!("http://x/link/{token}")).await;
    let id = consent.as_str().unwrap();
    let page = browser.get(&format!("/me/consents/{id}")).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body
            .contains("A client link reaches only its own client")
    );
    assert!(!page.body.contains(&escaped(FORM)));
    let give = browser
        .post(
            &format!("/me/consents/{id}/give"),
            &[("typed_name", "Dana Other")],
        )
        .await;
    assert_eq!(give.status, 403);
    assert_eq!(
        consent_status(&server, &clinic.practitioner, &consent).await["status"],
        "REQUESTED"
    );
    assert_eq!(
        browser
            .get(&format!("/me/consents/{id}/receipt.json"))
            .await
            .status,
        403
    );
}

async fn the_receipt_downloads_as_a_file(server: Server) {
    let (clinic, url, _) = clinic(&server).await;
    let mut browser = Browser::new(&server);
    open(&mut browser, &url).await;
    let id = clinic.consent.as_str().unwrap();
    let file = browser
        .get(&format!("/me/consents/{id}/receipt.json"))
        .await;
    assert_eq!(file.status, 200);
    assert!(
        file.header("content-disposition")
            .starts_with("attachment;")
    );
    let json: Value = serde_json::from_str(&file.body).unwrap();
    assert_eq!(json["receipt"]["version"], "KI-CR-v1.1.0");
    assert!(
        json["proof"]["checkpoint"]
            .as_str()
            .unwrap()
            .contains('\u{2014}')
    );
}

async fn the_auditor_signs_in_with_a_token_and_exports(server: Server) {
    let (clinic, _, _) = clinic(&server).await;
    let mut browser = Browser::new(&server);
    let form = browser.get("/audit").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Your access token"));
    let wrong = browser
        .post("/audit/sign-in", &[("token", "nonsense")])
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("The token was not accepted"));
    assert!(wrong.set_cookie("confide_staff").is_empty());

    // A practitioner is told the log is not theirs to read.
    let signed = browser
        .post("/audit/sign-in", &[("token", &clinic.practitioner)])
        .await;
    assert_eq!(signed.status, 303);
    let kept = signed.set_cookie("confide_staff");
    assert!(
        kept.contains("HttpOnly") && kept.contains("SameSite=Lax"),
        "{kept}"
    );
    assert!(
        !kept.contains(&clinic.practitioner),
        "the token is not kept: {kept}"
    );
    let refused = browser.get("/audit").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("auditor"), "{}", refused.body);
    browser.post("/audit/sign-out", &[]).await;
    assert!(!browser.cookies.contains_key("confide_staff"));

    let audrey = server.token(TENANT, "audrey");
    browser.post("/audit/sign-in", &[("token", &audrey)]).await;
    let bad = browser
        .post("/audit/exports", &[("clients", "not-an-id")])
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("“not-an-id” is not an id"),
        "{}",
        bad.body
    );
    let exported = browser
        .post(
            "/audit/exports",
            &[
                ("clients", clinic.client.as_str().unwrap()),
                ("from", "2020-01-01"),
            ],
        )
        .await;
    assert_eq!(exported.status, 200, "{}", exported.body);
    assert!(exported.body.contains("Your export is ready"));
    let href = exported
        .body
        .split("href=\"")
        .map(|s| s.split('"').next().unwrap())
        .find(|s| s.starts_with("/v1/audit/exports/"))
        .unwrap()
        .to_owned();
    let bundle = browser.get(&href).await;
    assert_eq!(bundle.status, 200);
    let header: Value = serde_json::from_str(bundle.body.lines().next().unwrap()).unwrap();
    assert_eq!(header["type"], "header");
}

/// A staff session is the server's: the cookie holds no token, signing out ends it (the old
/// cookie, replayed, no longer signs anyone in), and without an identity provider or
/// development mode `/sign-in` says sign-in is not set up.
async fn a_staff_session_is_kept_on_the_server_and_ends_on_sign_out(server: Server) {
    let (_clinic, _, _) = clinic(&server).await;
    let mut browser = Browser::new(&server);
    let sign_in = browser.get("/sign-in?next=//evil.example/").await;
    assert_eq!(sign_in.status, 503);
    assert!(sign_in.body.contains("not set up"), "{}", sign_in.body);
    assert!(!sign_in.body.contains("Development mode"));
    assert!(!sign_in.body.contains("evil.example"));
    let refused = browser
        .post(
            "/sign-in/development",
            &[("tenant", TENANT), ("user", "audrey")],
        )
        .await;
    assert_eq!(refused.status, 404);

    let audrey = server.token(TENANT, "audrey");
    let signed = browser.post("/audit/sign-in", &[("token", &audrey)]).await;
    assert_eq!(signed.status, 303);
    let session = browser.cookies.get("confide_staff").unwrap().clone();
    assert!(session.starts_with(&format!("{TENANT}.")), "{session}");
    assert!(!session.contains(&audrey));
    // Signed in, `/sign-in` goes on to `next`, when it is a path of this site.
    let onward = browser.get("/sign-in?next=/audit%3Fx%3D1").await;
    assert_eq!(onward.status, 303);
    assert_eq!(onward.headers[LOCATION], "/audit?x=1");
    let offsite = browser.get("/sign-in?next=https://evil.example/").await;
    assert_eq!(offsite.headers[LOCATION], "/audit");

    let out = browser.post("/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.headers[LOCATION], "/sign-in?signed-out=1");
    assert!(!browser.cookies.contains_key("confide_staff"));
    assert!(
        browser
            .get("/sign-in?signed-out=1")
            .await
            .body
            .contains("You are signed out")
    );

    // The old cookie, replayed, signs nobody in.
    browser.cookies.insert("confide_staff".into(), session);
    let page = browser.get("/audit").await;
    assert!(page.body.contains("Your access token"), "{}", page.body);
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    a_link_opens_the_clients_pages_and_leaves_no_secret_behind,
    a_forged_expired_or_missing_link_gets_a_page_that_says_what_to_do,
    the_client_reads_gives_and_withdraws_with_forms_that_need_this_browsers_token,
    the_client_sees_every_access_and_every_refused_attempt,
    the_client_listens_to_their_own_copy_with_a_player_that_seeks,
    a_german_form_gets_its_page_in_german,
    another_clients_consent_and_recording_are_not_found,
    the_receipt_downloads_as_a_file,
    the_auditor_signs_in_with_a_token_and_exports,
    a_staff_session_is_kept_on_the_server_and_ends_on_sign_out,
);
