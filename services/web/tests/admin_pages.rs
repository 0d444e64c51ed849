//! The administrator's pages over a real HTTP server on each backend, as a browser without
//! JavaScript uses them: only an org_admin gets in; members and roles, the policy, consent
//! forms, a course from creation to its end, what falls due, and the organisation's access log
//! paged, filtered and downloaded as CSV.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use chrono::Utc;
use confide_domain::{Purpose, Role};
use confide_test_support::audio::{upload, wav};
use confide_test_support::both_backends;
use confide_test_support::clinic::{Clinic, OverHttp};
use confide_test_support::server::{Backend, Server, spawn_app};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

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
}

/// A clinic whose client consented to `ada` (a tutor) hearing their sessions for supervision,
/// with one recording that `ada` played and `eve` (a tutor not named) was refused.
async fn clinic(server: &Server) -> (OverHttp, String) {
    let clinic = Clinic::new(TENANT)
        .member("ada", Role::Tutor)
        .member("eve", Role::Tutor)
        .form(FORM)
        .consent("sam", &[(Purpose::Supervision, &["ada"])])
        .open_over_http(server)
        .await;
    let sam = &clinic.practitioner;
    let recording = server
        .ok(
            sam,
            "mutation($c: UUID!, $d: NaiveDate!) { createRecording(consentId: $c, sessionOn: $d, medium: AUDIO) { id } }",
            json!({ "c": clinic.consent, "d": Utc::now().date_naive() }),
        )
        .await["createRecording"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = upload(server.address, &recording, sam, &wav(1)).await;
    assert_eq!(status, 201);
    let play =
        "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed } }";
    for (who, allowed) in [("ada", true), ("eve", false)] {
        let token = server.token(TENANT, who);
        assert_eq!(
            server.ok(&token, play, json!({ "r": recording })).await["startPlayback"]["allowed"],
            allowed
        );
    }
    (clinic, recording)
}

/// A browser signed in as `user`.
async fn signed_in(server: &Server, user: &str) -> Browser {
    let mut browser = Browser::new(server);
    browser.get("/audit").await;
    let token = server.token(TENANT, user);
    let signed = browser.post("/audit/sign-in", &[("token", &token)]).await;
    assert_eq!(signed.status, 303);
    browser
}

const PAGES: [&str; 6] = [
    "/admin",
    "/admin/policy",
    "/admin/forms",
    "/admin/courses",
    "/admin/duties",
    "/admin/access-log",
];

async fn only_an_administrator_gets_in(server: Server) {
    clinic(&server).await;
    // Nobody signed in: sent to sign in, and back here afterwards.
    let mut nobody = Browser::new(&server);
    for page in PAGES {
        let sent = nobody.get(page).await;
        assert_eq!(sent.status, 303, "{page}");
        assert_eq!(
            sent.location(),
            format!("/sign-in?next={}", page.replace('/', "%2F"))
        );
    }
    // A practitioner and a tutor are refused in plain words, and change nothing.
    for user in ["sam", "ada"] {
        let mut browser = signed_in(&server, user).await;
        for page in PAGES.iter().chain(&["/admin/access-log.csv"]) {
            let refused = browser.get(page).await;
            assert_eq!(refused.status, 403, "{user} {page}");
            assert!(
                refused.body.contains("administered by an org_admin"),
                "{}",
                refused.body
            );
        }
        let tried = browser
            .post(
                "/admin/members",
                &[("user", "mallory"), ("role", "org_admin")],
            )
            .await;
        assert_eq!(tried.status, 403);
    }
    let mut admin = signed_in(&server, "admin").await;
    let members = admin.get("/admin").await;
    assert!(!members.body.contains("mallory"));
    // Every page opens for the administrator, with the staff navigation and its own.
    for page in PAGES {
        let shown = admin.get(page).await;
        assert_eq!(shown.status, 200, "{page}: {}", shown.body);
        assert!(shown.body.contains("href=\"/practice\""));
        assert!(
            shown
                .body
                .contains(&format!("href=\"{page}\" aria-current=\"page\""))
        );
        assert!(
            shown
                .header("content-security-policy")
                .contains("default-src 'none'")
        );
    }
    // A form without this browser's token changes nothing.
    let stale = admin
        .post_raw(
            "/admin/members",
            &[("user", "mallory"), ("role", "tutor")],
            &[],
        )
        .await;
    assert_eq!(stale.status, 403);
}

async fn the_administrator_manages_members_policy_and_forms(server: Server) {
    clinic(&server).await;
    let mut admin = signed_in(&server, "admin").await;

    let added = admin
        .post(
            "/admin/members",
            &[("user", "rita"), ("role", "reviewer"), ("role", "tutor")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let page = admin.get("/admin").await;
    assert!(
        page.body.contains("<th scope=\"row\">rita</th>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("tutor, reviewer") || page.body.contains("reviewer, tutor"));
    let none = admin.post("/admin/members", &[("user", "tom")]).await;
    assert_eq!(none.status, 400);
    assert!(
        none.body.contains("Choose at least one role"),
        "{}",
        none.body
    );
    admin
        .post("/admin/members/rita/roles", &[("role", "auditor")])
        .await;
    let page = admin.get("/admin").await;
    assert!(page.body.contains("<td>auditor</td>"), "{}", page.body);
    admin.post("/admin/members/rita/remove", &[]).await;
    assert!(!admin.get("/admin").await.body.contains(">rita<"));

    // The policy: each choice explained; the coaching company's notified opt-out saved.
    let policy = admin.get("/admin/policy").await;
    assert!(policy.body.contains("Recorded by default after a notice"));
    assert!(
        policy
            .body
            .contains("sessions are recorded unless they opt out")
    );
    let saved = admin
        .post(
            "/admin/policy",
            &[
                ("consent_model", "notified_opt_out"),
                ("allowed_media", "audio_only"),
                ("practitioner_self_access", "false"),
                ("client_copies", "on_request_reviewed"),
                ("jurisdiction", "uk_gdpr"),
                ("retention_days", "90"),
                ("course_grace_days", "14"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let policy = admin.get("/admin/policy").await;
    assert!(
        policy.body.contains("id=\"consent_model-notified_opt_out\" name=\"consent_model\" value=\"notified_opt_out\" aria-describedby=\"consent_model-notified_opt_out-means\" checked"),
        "{}",
        policy.body
    );
    assert!(policy.body.contains("value=\"90\""));
    let too_long = admin
        .post(
            "/admin/policy",
            &[
                ("consent_model", "written_opt_in"),
                ("allowed_media", "audio_only"),
                ("practitioner_self_access", "false"),
                ("client_copies", "never"),
                ("jurisdiction", "gdpr"),
                ("retention_days", "99999"),
                ("course_grace_days", "14"),
            ],
        )
        .await;
    assert_eq!(too_long.status, 400, "{}", too_long.body);

    // Forms: a second version of the clinic's form, then it lists both.
    let forms = admin.get("/admin/forms").await;
    let id = forms
        .body
        .split("<option value=\"")
        .nth(2)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let published = admin
        .post(
            "/admin/forms",
            &[
                ("form", &id),
                ("title", "Recording consent, revised"),
                ("language", "en-GB"),
                ("text", "We record sessions; =cmd| is just text."),
            ],
        )
        .await;
    assert_eq!(published.status, 303, "{}", published.body);
    let forms = admin.get("/admin/forms").await;
    assert!(forms.body.contains("Recording consent, revised"));
    assert!(
        forms.body.contains("<th scope=\"row\">2</th>"),
        "{}",
        forms.body
    );
    assert!(forms.body.contains("<th scope=\"row\">1</th>"));
}

async fn a_course_is_created_run_and_ended_after_a_confirmation(server: Server) {
    clinic(&server).await;
    let mut admin = signed_in(&server, "admin").await;
    let created = admin
        .post(
            "/admin/courses",
            &[
                ("title", "Diploma in counselling"),
                ("starts_on", "2026-09-01"),
                ("ends_on", "2027-06-30"),
                ("tutors", "ada"),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let path = created.location().to_owned();
    assert!(path.starts_with("/admin/courses/"));
    admin
        .post(&format!("{path}/tutors"), &[("user", "eve")])
        .await;
    admin
        .post(&format!("{path}/students"), &[("user", "sam")])
        .await;
    let course = admin.get(&path).await;
    assert!(course.body.contains("<li>eve</li>") && course.body.contains("<li>sam</li>"));
    assert!(course.body.contains("consents expire"));
    // Without the confirmation ticked, nothing ends.
    let unconfirmed = admin
        .post(&format!("{path}/end"), &[("ended_on", "2026-12-01")])
        .await;
    assert_eq!(unconfirmed.status, 400);
    assert!(!admin.get(&path).await.body.contains("<strong>Ended on"));
    let ended = admin
        .post(
            &format!("{path}/end"),
            &[("ended_on", "2026-12-01"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(ended.status, 303, "{}", ended.body);
    assert!(
        admin
            .get(&path)
            .await
            .body
            .contains("Ended on 1 December 2026")
    );
    let list = admin.get("/admin/courses").await;
    assert!(list.body.contains("Diploma in counselling"));
    assert!(list.body.contains("1 December 2026"));

    // What falls due: the clinic's recording, a year after it was stored.
    let duties = admin.get("/admin/duties?days=400").await;
    assert!(
        duties
            .body
            .contains("the organisation&#39;s retention period has passed")
            || duties
                .body
                .contains("the organisation&#x27;s retention period has passed")
            || duties.body.contains("retention period has passed"),
        "{}",
        duties.body
    );
    let soon = admin.get("/admin/duties").await;
    assert!(soon.body.contains("Nothing falls due in that time."));
}

async fn the_access_log_pages_filters_and_downloads_as_csv(server: Server) {
    let (_, recording) = clinic(&server).await;
    // More attempts than a page holds: 60 more of Ada's.
    let play =
        "mutation($r: UUID!) { startPlayback(recordingId: $r, purpose: SUPERVISION) { allowed } }";
    let ada = server.token(TENANT, "ada");
    for _ in 0..60 {
        server.ok(&ada, play, json!({ "r": recording })).await;
    }
    let mut admin = signed_in(&server, "admin").await;
    let first = admin.get("/admin/access-log").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body.matches("<tr").count() - 1,
        50,
        "a page of 50 rows"
    );
    assert!(first.body.contains("Refused"));
    assert!(
        first.body.contains("the consent does not cover it"),
        "{}",
        first.body
    );
    let next = first
        .body
        .split("href=\"")
        .map(|s| {
            s.split('"')
                .next()
                .unwrap()
                .replace("&amp;", "&")
                .replace("&#38;", "&")
        })
        .find(|s| {
            s.starts_with("/admin/access-log?") && s.contains("after=") && !s.ends_with("after=")
        })
        .unwrap();
    let second = admin.get(&next).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body.matches("<tr").count() - 1, 12);
    assert!(!second.body.contains("rel=\"next\""));
    assert!(second.body.contains("First page"));

    let refused = admin.get("/admin/access-log?outcome=refused").await;
    assert_eq!(refused.body.matches("<tr").count() - 1, 1);
    assert!(
        refused.body.contains(">eve</code> (member)"),
        "{}",
        refused.body
    );
    let eve = admin.get("/admin/access-log?person=eve").await;
    assert_eq!(eve.body.matches("<tr").count() - 1, 1);
    let none = admin
        .get(&format!(
            "/admin/access-log?recording={recording}&from=2000-01-01&until=2000-01-02"
        ))
        .await;
    assert!(none.body.contains("No attempt matches."));
    let bad = admin.get("/admin/access-log?from=yesterday").await;
    assert_eq!(bad.status, 400);

    let csv = admin.get("/admin/access-log.csv?outcome=").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(csv.header("content-disposition").contains("attachment"));
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "when (UTC),sequence,person,as,recording,purpose,medium,outcome,reasons"
    );
    assert_eq!(
        lines.len(),
        63,
        "the header and every attempt, past one page"
    );
    assert_eq!(lines.iter().filter(|l| l.contains(",refused,")).count(), 1);
    let refused_csv = admin.get("/admin/access-log.csv?outcome=refused").await;
    assert_eq!(
        refused_csv
            .body
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .count(),
        2
    );
}

both_backends!(
    sqlite => spawn_app(Backend::Sqlite).await,
    postgres => spawn_app(Backend::Postgres).await,
    |server| case(server);
    only_an_administrator_gets_in,
    the_administrator_manages_members_policy_and_forms,
    a_course_is_created_run_and_ended_after_a_confirmation,
    the_access_log_pages_filters_and_downloads_as_csv,
);
