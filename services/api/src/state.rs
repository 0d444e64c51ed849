//! What the routes share: the application, the authenticator and the schema built over them.

use std::sync::Arc;

use confide_app::App;

use crate::auth::Authenticator;
use crate::caller::Authenticates;
use crate::graphql::{ConfideSchema, schema};

pub struct ApiState {
    pub app: Arc<App>,
    pub auth: Arc<Authenticator>,
    pub(crate) schema: ConfideSchema,
    /// Serve GraphiQL to browsers.
    pub development: bool,
}

impl ApiState {
    /// The API over `app`, reached by people at `public_url` (the base of the client links
    /// it hands out, e.g. `https://confide.example.org`).
    pub fn new(
        app: Arc<App>,
        auth: Arc<Authenticator>,
        development: bool,
        public_url: &str,
    ) -> Self {
        Self {
            schema: schema(app.clone(), auth.clone(), public_url),
            app,
            auth,
            development,
        }
    }
}

/// The routes' extractors find the authenticator in the state.
impl Authenticates for Arc<ApiState> {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}
