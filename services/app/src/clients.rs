//! The client directory and the forms clients sign: a practitioner's clients (an org_admin's:
//! all), searched by a name typed in without any name stored in clear; the organisation's
//! consent forms with their versions; and the text of the form a consent was asked with,
//! which its client reads through their link.
//!
//! Names are sealed under each client's own key. To search them, each name is cut into
//! normalised tokens (Unicode compatibility decomposition, accents dropped, lower case, words
//! split at anything that is not a letter or digit) and each word's prefixes of three letters
//! or more (type-ahead); each token is stored only as its HMAC-SHA-256 under the tenant's
//! index key (`name-index` in the key store, never the master key). A search hashes the words
//! typed the same way and asks for the clients that have every one. The index is written when
//! a client is registered; clients registered before it (or whose indexing was cut short) are
//! indexed by the next search, and erasing a client deletes their tokens in the erasure's own
//! transaction (`confide_readmodels::ClientDirectory`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use confide_domain::aggregates::client::Client;
use confide_domain::aggregates::consent_form::{ConsentForm, ConsentFormEvent};
use confide_domain::{
    ClientId, ConsentFormId, ConsentId, DomainError, Event, KeyId, Language, Sha256, TenantId,
    reads,
};
use confide_eventstore::StreamId;
use confide_readmodels::ClientFilter;
use confide_vault::{BlindIndexKey, KeyError};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::pages::{Page, PageRequest};
use crate::{App, AppError, Caller, ClientDetails, stream};

/// The tenant's key the name index is hashed under.
const NAME_INDEX_KEY: &str = "name-index";
/// The shortest prefix indexed: fewer letters would match too many names to be worth it.
const MIN_PREFIX: usize = 3;
/// The longest prefix indexed; a longer word is also indexed whole.
const MAX_PREFIX: usize = 24;
/// The most words of a name indexed, and of a search.
const MAX_WORDS: usize = 16;
/// The longest search accepted, in characters.
const MAX_SEARCH: usize = 200;
/// Clients indexed per read while catching up.
const CATCH_UP_BATCH: usize = 100;

/// A client as listed: their details opened for those allowed to see them; none once erased.
#[derive(Clone, Debug)]
pub struct ClientEntry {
    pub id: ClientId,
    pub details: Option<ClientDetails>,
    pub erased: bool,
}

/// One published version of a consent form.
#[derive(Clone, Debug)]
pub struct FormVersionView {
    pub version: u32,
    pub title: String,
    pub language: Language,
    /// SHA-256 of the exact text.
    pub text_sha256: Sha256,
    pub published_at: DateTime<Utc>,
    /// The text itself, where it was asked for.
    pub text: Option<String>,
}

/// A consent form and its versions, oldest first.
#[derive(Clone, Debug)]
pub struct FormView {
    pub id: ConsentFormId,
    pub versions: Vec<FormVersionView>,
}

/// The words of a name or a search: compatibility-decomposed, accents dropped, lower case,
/// split at anything that is not a letter or a digit.
fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_WORDS)
        .map(str::to_owned)
        .collect()
}

/// What a name is indexed under: each word, and each of its prefixes from [`MIN_PREFIX`] to
/// [`MAX_PREFIX`] letters (a shorter word only whole).
fn name_tokens(name: &str) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    for word in words(name) {
        let letters: Vec<char> = word.chars().collect();
        let shortest = MIN_PREFIX.min(letters.len());
        for len in shortest..=letters.len().min(MAX_PREFIX) {
            tokens.insert(letters[..len].iter().collect::<String>());
        }
        tokens.insert(word);
    }
    tokens
}

/// What a search looks for: every word typed, each a whole word or the start of one.
fn search_tokens(search: &str) -> Result<BTreeSet<String>, DomainError> {
    if search.chars().count() > MAX_SEARCH {
        return Err(DomainError::invalid(
            "search",
            format!("a search is at most {MAX_SEARCH} characters"),
        ));
    }
    let tokens: BTreeSet<String> = words(search).into_iter().collect();
    if tokens.is_empty() {
        return Err(DomainError::invalid(
            "search",
            "type at least one letter or digit of a name",
        ));
    }
    Ok(tokens)
}

fn index_key_id() -> Result<KeyId, DomainError> {
    KeyId::parse(NAME_INDEX_KEY)
}

impl App {
    /// The tenant's name index key, created on first use.
    async fn name_index_key(&self, tenant: &TenantId) -> Result<BlindIndexKey, AppError> {
        let key_id = index_key_id()?;
        match BlindIndexKey::of(self.keys.as_ref(), tenant, &key_id).await {
            Err(KeyError::Unknown { .. }) => {
                match self.keys.create_key(tenant, &key_id).await {
                    // Created by a concurrent first use is as good.
                    Ok(()) | Err(KeyError::Exists { .. }) => {}
                    Err(other) => return Err(other.into()),
                }
                Ok(BlindIndexKey::of(self.keys.as_ref(), tenant, &key_id).await?)
            }
            other => Ok(other?),
        }
    }

    /// Indexes a client's name (none for an erased client: they are only marked as done).
    async fn index_name(
        &self,
        tenant: &TenantId,
        client: &StreamId,
        name: Option<&str>,
        key: &BlindIndexKey,
    ) -> Result<(), AppError> {
        let tokens: Vec<String> = name
            .map(name_tokens)
            .unwrap_or_default()
            .iter()
            .map(|token| key.token(token))
            .collect();
        self.read.index_client_name(tenant, client, &tokens).await?;
        Ok(())
    }

    /// Indexes a newly registered client's name. A failure here leaves the client registered
    /// and unindexed, and the next search indexes them.
    pub(crate) async fn index_new_client(&self, tenant: &TenantId, client: ClientId, name: &str) {
        let indexed = async {
            let key = self.name_index_key(tenant).await?;
            self.index_name(tenant, &stream(client), Some(name), &key)
                .await
        };
        if let Err(error) = indexed.await {
            tracing::warn!(tenant_id = %tenant, %error, "a client's name was not indexed; the next search will");
        }
    }

    /// Indexes every client of the tenant not indexed yet (registered before the index, or
    /// whose indexing was cut short); how many. Runs before every search, where it finds
    /// nothing to do once caught up.
    pub async fn index_client_names(&self, tenant: &TenantId) -> Result<usize, AppError> {
        let mut batch = self.read.unindexed_clients(tenant, CATCH_UP_BATCH).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let key = self.name_index_key(tenant).await?;
        let mut indexed = 0;
        while !batch.is_empty() {
            for (client_stream, (_, json)) in batch {
                let client: Client = confide_readmodels::parse_state(Some(&json))?;
                let details = self.client_details(tenant, &client).await?;
                // Every client read is marked, so the next read finds the ones after it.
                let name = details.as_ref().map(|d| d.name.as_str());
                self.index_name(tenant, &client_stream, name, &key).await?;
                indexed += 1;
            }
            batch = self.read.unindexed_clients(tenant, CATCH_UP_BATCH).await?;
        }
        Ok(indexed)
    }

    /// A page of clients, in the order they were registered: an org_admin's are every client,
    /// a practitioner's those they registered or asked for consent. With `search`, only those
    /// whose name has every word typed (whole, or its first three letters or more), matched
    /// through the blind index. Names are opened only for the clients listed.
    pub async fn clients_page(
        &self,
        caller: &Caller,
        search: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ClientEntry>, AppError> {
        let tenant = &caller.tenant;
        let organisation = self.organisation(tenant).await?;
        let practitioner = reads::client_list(&organisation, &caller.actor)?;
        let tokens = match search {
            None => None,
            Some(search) => {
                let typed = search_tokens(search)?;
                self.index_client_names(tenant).await?;
                let key = self.name_index_key(tenant).await?;
                Some(typed.iter().map(|token| key.token(token)).collect())
            }
        };
        let filter = ClientFilter {
            practitioner: practitioner.map(|user| user.to_string()),
            tokens,
        };
        let found = self
            .read
            .clients_page(
                tenant,
                &filter,
                page.after_stream("client")?.as_ref(),
                page.first() + 1,
            )
            .await?;
        let mut rows = Vec::with_capacity(found.len());
        for (stream_id, (_, json)) in found {
            let client: Client = confide_readmodels::parse_state(Some(&json))?;
            let Some(id) = client.id() else { continue };
            let details = self.client_details(tenant, &client).await?;
            if filter.tokens.is_some() && details.is_none() {
                // Erased after they were indexed (an indexing that raced the erasure): their
                // tokens go now, and they are no match.
                self.read.forget_client_name(tenant, &stream_id).await?;
                continue;
            }
            rows.push((
                stream_id.to_string(),
                ClientEntry {
                    id,
                    erased: client.is_erased() || details.is_none(),
                    details,
                },
            ));
        }
        Ok(Page::of(rows, page.first()))
    }

    /// One client, their details opened (none once erased): for a member of the
    /// organisation, as their consents are.
    pub async fn client_entry(
        &self,
        caller: &Caller,
        client_id: ClientId,
    ) -> Result<ClientEntry, AppError> {
        let tenant = &caller.tenant;
        let organisation = self.organisation(tenant).await?;
        reads::client_records(&organisation, &caller.actor, client_id)?;
        let client = self.load::<Client>(tenant, &stream(client_id)).await?.state;
        let id = client
            .id()
            .ok_or_else(|| DomainError::not_found("client"))?;
        let details = self.client_details(tenant, &client).await?;
        Ok(ClientEntry {
            id,
            erased: client.is_erased() || details.is_none(),
            details,
        })
    }

    /// The organisation's consent forms, each with its versions (title, language, SHA-256 of
    /// the text, when published): for an org_admin or a practitioner. Forms are few; each is
    /// read whole.
    pub async fn consent_forms(&self, caller: &Caller) -> Result<Vec<FormView>, AppError> {
        let organisation = self.organisation(&caller.tenant).await?;
        reads::consent_forms(&organisation, &caller.actor)?;
        let mut forms = Vec::new();
        for (stream_id, (_, json)) in self
            .read
            .states_of_kind(&caller.tenant, "consent_form")
            .await?
        {
            let form: ConsentForm = confide_readmodels::parse_state(Some(&json))?;
            let Some(id) = form.id() else { continue };
            let versions = self
                .form_versions(&caller.tenant, &stream_id, None)
                .await?
                .into_iter()
                .map(|mut version| {
                    version.text = None;
                    version
                })
                .collect();
            forms.push(FormView { id, versions });
        }
        Ok(forms)
    }

    /// The exact form a consent was asked with (its version, title, language and text, and
    /// the SHA-256 the consent names): what its client reads before signing, through their
    /// link, and what a member of the organisation may read. A client link reads only its own
    /// client's consents' forms.
    pub async fn consent_form_of(
        &self,
        caller: &Caller,
        consent_id: ConsentId,
    ) -> Result<(ConsentFormId, FormVersionView), AppError> {
        let consent = self.consent(caller, consent_id).await?;
        let form = consent
            .core()
            .map(|core| core.form.clone())
            .ok_or_else(|| DomainError::not_found("consent"))?;
        let version = self
            .form_versions(
                &caller.tenant,
                &stream(form.consent_form_id),
                Some(form.version),
            )
            .await?
            .into_iter()
            .next()
            .filter(|version| version.text_sha256 == form.text_sha256)
            .ok_or_else(|| DomainError::not_found("consent form version"))?;
        Ok((form.consent_form_id, version))
    }

    /// The versions of a form as published (only `only`, when given), with their text.
    async fn form_versions(
        &self,
        tenant: &TenantId,
        form: &StreamId,
        only: Option<u32>,
    ) -> Result<Vec<FormVersionView>, AppError> {
        let mut versions = Vec::new();
        let mut from = 1;
        loop {
            let events = self.store.read_stream(tenant, form, from, 100).await?;
            let Some(last) = events.last() else { break };
            from = last.stream_version + 1;
            for stored in &events {
                let event =
                    Event::from_stored(&stored.event_type, stored.schema_version, &stored.payload)?;
                let Event::ConsentForm(ConsentFormEvent::ConsentFormPublished {
                    version,
                    title,
                    language,
                    text,
                    text_sha256,
                    at,
                    ..
                }) = event
                else {
                    continue;
                };
                if only.is_some_and(|only| only != version) {
                    continue;
                }
                versions.push(FormVersionView {
                    version,
                    title,
                    language,
                    text_sha256,
                    published_at: at,
                    text: Some(text),
                });
            }
        }
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_indexed_by_its_words_and_their_prefixes() {
        let tokens = name_tokens("Zoë  O'Brien-Smith");
        for expected in ["zoe", "o", "brien", "bri", "brie", "smi", "smith"] {
            assert!(tokens.contains(expected), "{expected} in {tokens:?}");
        }
        assert!(!tokens.contains("br"), "no prefix under three letters");
        assert!(!tokens.contains("zoë"), "accents are dropped");
    }

    #[test]
    fn a_search_is_normalised_as_names_are() {
        let typed = search_tokens("  ZOE smi ").expect("a search");
        assert_eq!(typed, BTreeSet::from(["zoe".to_owned(), "smi".to_owned()]));
        assert!(typed.is_subset(&name_tokens("Zoë O'Brien-Smith")));
        assert!(search_tokens(" - ").is_err());
        assert!(search_tokens(&"a".repeat(MAX_SEARCH + 1)).is_err());
    }

    #[test]
    fn a_long_word_is_indexed_whole_and_by_its_first_letters() {
        let word = "a".repeat(40);
        let tokens = name_tokens(&word);
        assert!(tokens.contains(&word));
        assert!(tokens.contains(&"a".repeat(MAX_PREFIX)));
        assert!(!tokens.contains(&"a".repeat(MAX_PREFIX + 1)));
    }
}
