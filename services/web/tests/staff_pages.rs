//! The practitioner's (`/practice`) and the reviewer's (`/review`) pages over a real HTTP
//! server on each backend, as a browser without JavaScript uses them (and, for the upload, as
//! the page's script sends it): the student counsellor's story from registering a client to
//! the tutor's play refused after the client withdrew, and the credentialing story to the
//! assessor's access refused after the decision.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::Utc;
use confide_domain::{Purpose, Role};
use confide_test_support::audio::wav;
use confide_test_support::both_backends;
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, Server, spawn_app};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

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

    /// Sends `body` as a script on the page does: a PUT with this browser's CSRF token in
    /// `X-CSRF-Token` (or `csrf` when given).
    async fn put(&mut self, path: &str, body: Vec<u8>, csrf: Option<&str>) -> Page {
        let token = csrf.map_or_else(
            || {
                self.cookies
                    .get("confide_csrf")
                    .cloned()
                    .unwrap_or_default()
            },
            str::to_owned,
        );
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("x-csrf-token", token)
            .header("content-type", "audio/wav")
            .body(body)
            .send()
            .await
            .unwrap();
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
}

/// A browser signed in with `token` (the staff sign-in form).
async fn signed_in(server: &Server, token: &str) -> Browser {
    let mut browser = Browser::new(server);
    browser.get("/practice").await;
    let signed = browser.post("/audit/sign-in", &[("token", token)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    browser
}

/// The id in `/prefix/{id}` of a redirect.
fn id_after(page: &Page, prefix: &str) -> String {
    assert_eq!(page.status, 303, "{}", page.body);
    page.location()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{} is not under {prefix}", page.location()))
        .to_owned()
}

fn player_src(body: &str) -> String {
    body.split("<audio id=\"player\" controls preload=\"metadata\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a player")
        .to_owned()
}

async fn nobody_signed_in_is_sent_to_sign_in(server: Server) {
    let mut browser = Browser::new(&server);
    for (path, next) in [
        ("/practice", "%2Fpractice"),
        (
            "/review?purpose=supervision",
            "%2Freview%3Fpurpose%3Dsupervision",
        ),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location(), format!("/sign-in?next={next}"));
    }
}

async fn the_student_counsellors_story_through_the_pages(server: Server) {
    let clinic = Clinic::new(TENANT)
        .member("ada", Role::Tutor)
        .member("eve", Role::Tutor)
        .form(FORM)
        .consent("sam", &[(Purpose::Supervision, &["ada"])])
        .open_over_http(&server)
        .await;
    let mut sam = signed_in(&server, &clinic.practitioner).await;

    // Clients: found by a part of their name; a new one registered; consent asked of them
    // and their link handed over.
    let found = sam.get("/practice?q=morg").await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.body.contains("Morgan Ellis"), "{}", found.body);
    let none = sam.get("/practice?q=nobody").await;
    assert!(none.body.contains("No client matches"), "{}", none.body);
    let registered = sam
        .post(
            "/practice/clients",
            &[("name", "Kit Marlowe"), ("contact", "kit@example.org")],
        )
        .await;
    let kit = id_after(&registered, "/practice/clients/");
    let page = sam.get(&format!("/practice/clients/{kit}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<h1>Kit Marlowe</h1>"));
    assert!(page.body.contains("Nothing asked yet"));
    let asked = sam
        .post(
            &format!("/practice/clients/{kit}/consents"),
            &[
                ("form", clinic.form["id"].as_str().unwrap()),
                ("purpose", "supervision"),
                ("listeners", "ada"),
                ("medium", "audio"),
                ("expires", ""),
            ],
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let link = format!("http://{}/link/", server.address);
    assert!(asked.body.contains(&link), "{}", asked.body);
    assert!(asked.body.contains("Asked; waiting for the client"));
    let wrong = sam
        .post(
            &format!("/practice/clients/{kit}/consents"),
            &[
                ("form", clinic.form["id"].as_str().unwrap()),
                ("purpose", "nonsense"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);

    // A recording of a session under the given consent, stored as the page's script sends
    // it; a bookmark.
    let client = clinic.client.as_str().unwrap();
    let consent = clinic.consent.as_str().unwrap();
    let page = sam.get(&format!("/practice/clients/{client}")).await;
    assert!(page.body.contains("Given"), "{}", page.body);
    let today = Utc::now().date_naive().to_string();
    let created = sam
        .post(
            &format!("/practice/consents/{consent}/recordings"),
            &[("session_on", &today)],
        )
        .await;
    let recording = id_after(&created, "/practice/recordings/");
    let page = sam.get(&format!("/practice/recordings/{recording}")).await;
    assert!(page.body.contains("Not yet stored"), "{}", page.body);
    assert!(page.body.contains("/assets/staff/upload.js"));
    let media = format!("/practice/recordings/{recording}/media");
    let forged = sam.put(&media, wav(1), Some("forged")).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let stored = sam.put(&media, wav(1), None).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert!(stored.body.starts_with("Stored:"), "{}", stored.body);
    let marked = sam
        .post(
            &format!("/practice/recordings/{recording}/bookmarks"),
            &[("at", "0:00"), ("label", "Opening")],
        )
        .await;
    assert_eq!(marked.status, 303, "{}", marked.body);
    let page = sam.get(&format!("/practice/recordings/{recording}")).await;
    assert!(page.body.contains("Opening"), "{}", page.body);

    // The tutor named plays, seeks, comments at a moment and exports the comments.
    let mut ada = signed_in(&server, &server.token(TENANT, "ada")).await;
    let list = ada.get("/review?purpose=supervision").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&format!(
        "/review/recordings/{recording}?purpose=supervision"
    )));
    let play = format!("/review/recordings/{recording}/play");
    let played = ada.post(&play, &[("purpose", "supervision")]).await;
    assert_eq!(played.status, 200, "{}", played.body);
    let src = player_src(&played.body);
    let range = reqwest::Client::new()
        .get(format!("http://{}{src}", server.address))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    let commented = ada
        .post(
            &format!("/review/recordings/{recording}/comments"),
            &[
                ("purpose", "supervision"),
                ("at", "0:00.5"),
                ("body", "Good opening"),
            ],
        )
        .await;
    assert_eq!(commented.status, 303, "{}", commented.body);
    let page = ada.get(commented.location()).await;
    assert!(page.body.contains("Your comment is saved"), "{}", page.body);
    assert!(page.body.contains("Good opening") && page.body.contains("Opening"));
    assert!(
        page.body.contains("data-seconds=\"0.500\""),
        "{}",
        page.body
    );
    let vtt = ada
        .get(&format!(
            "/review/recordings/{recording}/comments.vtt?purpose=supervision"
        ))
        .await;
    assert_eq!(vtt.status, 200);
    assert_eq!(vtt.header("content-type"), "text/vtt; charset=utf-8");
    assert_eq!(
        vtt.body,
        "WEBVTT\n\n1\n00:00:00.500 --> 00:00:05.500\nGood opening\n"
    );

    // A tutor the client did not name is not offered it, and is refused with the reasons.
    let mut eve = signed_in(&server, &server.token(TENANT, "eve")).await;
    let list = eve.get("/review?purpose=supervision").await;
    assert!(!list.body.contains(&recording), "{}", list.body);
    let refused = eve.post(&play, &[("purpose", "supervision")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(!refused.body.contains("<audio"));
    assert!(refused.body.contains("You may not play this recording"));
    assert!(
        refused.body.contains("The consent does not cover it"),
        "{}",
        refused.body
    );

    // The client withdraws; the tutor's next play is refused, with the reasons.
    let mut client_browser = Browser::new(&server);
    client_browser.get(&format!("/link/{}", clinic.link)).await;
    let withdrawn = client_browser
        .post(
            &format!("/me/consents/{consent}/withdraw"),
            &[("scope", "whole")],
        )
        .await;
    assert!(withdrawn.status < 400, "{}", withdrawn.body);
    let refused = ada.post(&play, &[("purpose", "supervision")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("id=\"refused\""), "{}", refused.body);
    let list = ada.get("/review?purpose=supervision").await;
    assert!(!list.body.contains(&recording));

    // Destroying says first what cannot be undone.
    let confirm = sam
        .get(&format!("/practice/recordings/{recording}/destroy"))
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("This cannot be undone"));
    let destroyed = sam
        .post(&format!("/practice/recordings/{recording}/destroy"), &[])
        .await;
    assert_eq!(destroyed.status, 200, "{}", destroyed.body);
    assert!(destroyed.body.contains("The recording is destroyed"));
}

/// The ids of the consents a client's home page links to.
fn consent_links(body: &str) -> Vec<String> {
    body.split("href=\"/me/consents/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

async fn the_credentialing_story_ends_with_the_assessors_access_refused(server: Server) {
    let clinic = Clinic::new(TENANT)
        .member("mia", Role::Assessor)
        .form(FORM)
        .consent("sam", &[(Purpose::Credentialing, &["mia"])])
        .open_over_http(&server)
        .await;
    let client = clinic.client.as_str().unwrap();
    let mut sam = signed_in(&server, &clinic.practitioner).await;
    let asked = sam
        .post(
            &format!("/practice/clients/{client}/consents"),
            &[
                ("form", clinic.form["id"].as_str().unwrap()),
                ("purpose", "credentialing"),
                ("listeners", "mia"),
                ("medium", "audio"),
                ("ends", "decision"),
            ],
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let url = asked
        .body
        .split("value=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|v| v.contains("/link/"))
        .unwrap()
        .to_owned();

    // The client opens the link they were handed and gives consent in their pages.
    let mut morgan = Browser::new(&server);
    let opened = morgan
        .get(&format!("/link/{}", url.split("/link/").nth(1).unwrap()))
        .await;
    assert_eq!(opened.status, 303);
    let home = morgan.get("/me").await;
    let consent = consent_links(&home.body)
        .into_iter()
        .find(|id| id != clinic.consent.as_str().unwrap())
        .unwrap();
    let given = morgan
        .post(
            &format!("/me/consents/{consent}/give"),
            &[("typed_name", "Morgan Ellis")],
        )
        .await;
    assert!(given.status < 400, "{}", given.body);

    // A session recorded under it; the assessor it names plays it.
    let page = sam.get(&format!("/practice/clients/{client}")).await;
    assert!(
        page.body
            .contains(&format!("/practice/consents/{consent}/credential-decision")),
        "{}",
        page.body
    );
    let today = Utc::now().date_naive().to_string();
    let created = sam
        .post(
            &format!("/practice/consents/{consent}/recordings"),
            &[("session_on", &today)],
        )
        .await;
    let recording = id_after(&created, "/practice/recordings/");
    let stored = sam
        .put(
            &format!("/practice/recordings/{recording}/media"),
            wav(1),
            None,
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let until = (Utc::now().date_naive() + chrono::TimeDelta::days(30)).to_string();
    let granted = sam
        .post(
            &format!("/practice/recordings/{recording}/grants"),
            &[
                ("user", "mia"),
                ("purpose", "credentialing"),
                ("until", &until),
            ],
        )
        .await;
    assert_eq!(granted.status, 303, "{}", granted.body);
    let page = sam.get(granted.location()).await;
    assert!(page.body.contains("Access granted"), "{}", page.body);
    let mut mia = signed_in(&server, &server.token(TENANT, "mia")).await;
    let list = mia.get("/review?purpose=credentialing").await;
    assert!(list.body.contains(&recording), "{}", list.body);
    let play = format!("/review/recordings/{recording}/play");
    let played = mia.post(&play, &[("purpose", "credentialing")]).await;
    assert_eq!(played.status, 200, "{}", played.body);
    assert!(player_src(&played.body).starts_with("/v1/media/"));

    // The credentialing body decides: the consent ends, and the assessor is refused.
    let decided = sam
        .post(
            &format!("/practice/consents/{consent}/credential-decision"),
            &[],
        )
        .await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    let page = sam.get(decided.location()).await;
    assert!(page.body.contains("Ended"), "{}", page.body);
    let refused = mia.post(&play, &[("purpose", "credentialing")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("id=\"refused\""), "{}", refused.body);
    let list = mia.get("/review?purpose=credentialing").await;
    assert!(!list.body.contains(&recording));
}

/// The client asks, mid-session, to stop the recording: the practitioner records the moment
/// (the no-JavaScript form), and the WAV stored afterwards ends there.
async fn the_clients_stop_cuts_what_is_stored(server: Server) {
    let clinic = Clinic::new(TENANT)
        .consent("sam", &[(Purpose::Supervision, &["ada"])])
        .open_over_http(&server)
        .await;
    let mut sam = signed_in(&server, &clinic.practitioner).await;
    let consent = clinic.consent.as_str().unwrap();
    let today = Utc::now().date_naive().to_string();
    let created = sam
        .post(
            &format!("/practice/consents/{consent}/recordings"),
            &[("session_on", &today)],
        )
        .await;
    let recording = id_after(&created, "/practice/recordings/");
    let page = sam.get(&format!("/practice/recordings/{recording}")).await;
    let stop = format!("/practice/recordings/{recording}/stop");
    assert!(
        page.body.contains(&format!("action=\"{stop}\"")),
        "{}",
        page.body
    );
    let typo = sam.post(&stop, &[("at", "two seconds")]).await;
    assert_eq!(typo.status, 400, "{}", typo.body);
    assert!(typo.body.contains("m:ss"), "{}", typo.body);
    let stopped = sam.post(&stop, &[("at", "0:02")]).await;
    assert_eq!(stopped.status, 303, "{}", stopped.body);
    let page = sam.get(&format!("/practice/recordings/{recording}")).await;
    assert!(page.body.contains("id=\"stop-recorded\""), "{}", page.body);
    assert!(page.body.contains("at 0:02."), "{}", page.body);

    // What is not audio is refused in plain words, and nothing is kept.
    let junk = sam
        .put(
            &format!("/practice/recordings/{recording}/media"),
            b"not a recording at all".to_vec(),
            None,
        )
        .await;
    assert_eq!(junk.status, 415, "{}", junk.body);
    assert!(
        junk.body.contains("not audio Confide can read"),
        "{}",
        junk.body
    );
    // Three seconds sent; two kept.
    let stored = sam
        .put(
            &format!("/practice/recordings/{recording}/media"),
            wav(3),
            None,
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let page = sam.get(&format!("/practice/recordings/{recording}")).await;
    assert!(page.body.contains("0:02 long"), "{}", page.body);
    // Once stored, a stop is too late, and the page says why.
    let late = sam.post(&stop, &[("at", "0:01")]).await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert!(
        late.body.contains("before the media is stored"),
        "{}",
        late.body
    );
}

/// The student counsellor asks for consent that ends with their course; when the
/// administrator ends the course, the consent has ended with it.
async fn a_consent_asked_to_end_with_the_course_ends_with_it(server: Server) {
    let clinic = Clinic::new(TENANT)
        .member("ada", Role::Tutor)
        .form(FORM)
        .consent("sam", &[(Purpose::CourseAssessment, &["ada"])])
        .open_over_http(&server)
        .await;
    let admin = confide_app::Caller {
        tenant: confide_domain::TenantId::parse(TENANT).unwrap(),
        actor: confide_domain::Actor::user(confide_domain::UserId::parse("admin").unwrap()),
    };
    let today = Utc::now().date_naive();
    let course = server
        .app
        .create_course(
            &admin,
            "Diploma in Counselling, year 2".to_owned(),
            today,
            today + chrono::TimeDelta::days(200),
            [confide_domain::UserId::parse("ada").unwrap()].into(),
        )
        .await
        .unwrap();
    let course_id = course.id().unwrap();
    server
        .app
        .enrol_in_course(
            &admin,
            course_id,
            confide_domain::UserId::parse("sam").unwrap(),
        )
        .await
        .unwrap();

    let mut sam = signed_in(&server, &clinic.practitioner).await;
    let client = clinic.client.as_str().unwrap();
    let page = sam.get(&format!("/practice/clients/{client}")).await;
    assert!(
        page.body.contains("Diploma in Counselling, year 2"),
        "{}",
        page.body
    );
    let ask = |ends: &'static str, course: String| {
        vec![
            ("form", clinic.form["id"].as_str().unwrap().to_owned()),
            ("purpose", "course_assessment".to_owned()),
            ("listeners", "ada".to_owned()),
            ("medium", "audio".to_owned()),
            ("ends", ends.to_owned()),
            ("course", course),
        ]
    };
    // A course that is not one of the listed is refused in plain words.
    let fields = ask("course", "not-a-course".to_owned());
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wrong = sam
        .post(&format!("/practice/clients/{client}/consents"), &pairs)
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(
        wrong.body.contains("Choose one of the courses listed."),
        "{}",
        wrong.body
    );
    let fields = ask("course", course_id.to_string());
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let asked = sam
        .post(&format!("/practice/clients/{client}/consents"), &pairs)
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let url = asked
        .body
        .split("value=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|v| v.contains("/link/"))
        .unwrap()
        .to_owned();
    let mut morgan = Browser::new(&server);
    morgan
        .get(&format!("/link/{}", url.split("/link/").nth(1).unwrap()))
        .await;
    let home = morgan.get("/me").await;
    let consent = consent_links(&home.body)
        .into_iter()
        .find(|id| id != clinic.consent.as_str().unwrap())
        .unwrap();
    let given = morgan
        .post(
            &format!("/me/consents/{consent}/give"),
            &[("typed_name", "Morgan Ellis")],
        )
        .await;
    assert!(given.status < 400, "{}", given.body);

    // The course ends: the consent asked to end with it has ended; the other has not.
    server
        .app
        .end_course(&admin, course_id, today)
        .await
        .unwrap();
    let page = sam.get(&format!("/practice/clients/{client}")).await;
    assert_eq!(page.body.matches(">Ended<").count(), 1, "{}", page.body);
    assert!(page.body.contains(">Given<"), "{}", page.body);
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    nobody_signed_in_is_sent_to_sign_in,
    the_student_counsellors_story_through_the_pages,
    the_credentialing_story_ends_with_the_assessors_access_refused,
    the_clients_stop_cuts_what_is_stored,
    a_consent_asked_to_end_with_the_course_ends_with_it,
);
