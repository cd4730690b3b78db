//! The OpenAPI 3.1 description of every route, built from the handlers' `#[utoipa::path]`
//! attributes as they are registered (see `server::routes`), so a route cannot be served
//! without being described. Served at `GET /api/v1/openapi.json`, without auth.
//!
//! The domain's text types get their schemas here (the domain knows nothing of OpenAPI); the
//! problem+json errors, the bearer scheme and the `Idempotency-Key` header are added to every
//! operation of the API by [`Conventions`].

use actix_web::get;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Required};
use utoipa::{Modify, PartialSchema, ToSchema};

use crate::domain::{
    Currency, Detail, OrderId, OrderStatus, ReservationState, ShipmentProvider, ShipmentState,
    ShopId, Sku, Stage, Tag,
};
use crate::notifications::DeliveryState;
use crate::persistence::QuarantineReason;
use crate::workflow::run::{Status as RunStatus, StepStatus};

/// The document's frame: title, version, what the API is. The paths come from the routes.
pub(super) fn base() -> OpenApi {
    use utoipa::openapi::{InfoBuilder, OpenApiBuilder};
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("CreatorFlow")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The order-processing daemon for TikTok Shop sellers. Every route under \
                     /api/v1 takes `Authorization: Bearer <api key>`; a shop key sees and \
                     changes only its shop. Errors are RFC 9457 problems with a stable `code`.",
                ))
                .build(),
        )
        .build()
}

/// The document as served, and the paths it lists, to answer a wrong method with 405.
pub struct Spec {
    json: String,
    routes: Vec<(Vec<String>, Vec<&'static str>)>,
}

impl Spec {
    pub fn of(api: OpenApi) -> Self {
        let json = api.to_json().expect("the OpenAPI document serialises");
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
                (segments, methods)
            })
            .collect();
        Self { json, routes }
    }

    /// The methods `path` answers, as an `Allow` header says them, if it is a route at all.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let asked: Vec<&str> = path.split('/').collect();
        let mut methods: Vec<&str> = self
            .routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == asked.len()
                    && segments.iter().zip(&asked).all(|(s, a)| {
                        s == a || (s.starts_with('{') && s.ends_with('}') && !a.is_empty())
                    })
            })
            .flat_map(|(_, methods)| methods.iter().copied())
            .collect();
        methods.sort_unstable();
        methods.dedup();
        (!methods.is_empty()).then(|| methods.join(", "))
    }
}

/// This document.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of every route", body = Object, content_type = "application/json"))
)]
#[get("/openapi.json")]
pub(super) async fn document(spec: actix_web::web::Data<Spec>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(spec.json.clone())
}

/// A string schema with a description, and its allowed values when there is a fixed set.
fn text(description: &str, values: Option<&[&str]>) -> RefOr<Schema> {
    let mut schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description));
    if let Some(values) = values {
        schema = schema.enum_values(Some(values.iter().copied()));
    }
    schema.into()
}

/// A string schema that must match `regex` (the server accepts all that matches).
fn pattern(description: &str, regex: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(regex))
        .into()
}

macro_rules! text_schema {
    ($($ty:ty => $schema:expr;)*) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($ty))
            }
        }
    )*};
}

text_schema! {
    OrderId => pattern(
        "A TikTok order id: 1 to 64 letters, digits, '_' or '-' (text: ids exceed 2^53).",
        "^[A-Za-z0-9_-]{1,64}$",
    );
    ShopId => pattern(
        "A TikTok shop id: 1 to 64 letters, digits, '_' or '-'.",
        "^[A-Za-z0-9_-]{1,64}$",
    );
    Sku => pattern(
        "A TikTok SKU id: 1 to 64 visible characters (in a path, percent-encoded as usual).",
        "^[!-$&-~]{1,64}$",
    );
    Tag => pattern(
        "A tag: 1 to 64 characters, trimmed, without a comma or a control character.",
        "^[^,\\x00-\\x1f\\x7f-\\x9f]{0,63}[^,\\s\\x00-\\x1f\\x7f-\\x9f][^,\\x00-\\x1f\\x7f-\\x9f]{0,63}$",
    );
    Currency => text("An ISO 4217 currency code.", None);
    OrderStatus => text(
        "TikTok's order status: UNPAID, ON_HOLD, AWAITING_SHIPMENT, PARTIALLY_SHIPPING, \
         AWAITING_COLLECTION, IN_TRANSIT, DELIVERED, COMPLETED, CANCELLED; a status this \
         build does not know is passed on verbatim.",
        None,
    );
    Stage => text(
        "Our fulfilment stage.",
        Some(&Stage::ALL.map(|s| s.as_str())),
    );
    ShipmentState => text("A shipment's state.", Some(ShipmentState::TEXTS));
    ShipmentProvider => text("Who bought the label.", Some(ShipmentProvider::TEXTS));
    ReservationState => text("A stock reservation's state.", Some(ReservationState::TEXTS));
    DeliveryState => text("A notification delivery's state.", Some(DeliveryState::TEXTS));
    QuarantineReason => text("Why a signed webhook was quarantined.", Some(QuarantineReason::TEXTS));
    RunStatus => text(
        "A workflow run's status.",
        Some(&["running", "held", "waiting", "completed", "cancelled", "failed"]),
    );
    StepStatus => text(
        "What a workflow step's record says.",
        Some(&["done", "skipped", "dead", "replayed"]),
    );
    Detail => RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "TikTok's order detail as applied: payment (money as decimal strings with their \
                 currency), line items, recipient, SLA times.",
            ))
            .build(),
    ));
}

/// A notification routing-key pattern, as a subscription names what it wants.
pub(super) struct EventPattern;

text_schema! {
    EventPattern => pattern(
        "`order.transition.<stage>`, `order.transition.#` (every stage) or `inventory.low_stock`.",
        &format!(
            "^(order\\.transition\\.(#|\\*|{})|inventory\\.low_stock)$",
            Stage::ALL.map(|s| s.as_str()).join("|")
        ),
    );
}

/// An RFC 9457 problem, the body of every error.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // described, not built: `error::Problem` is what is sent
pub(super) struct Problem {
    /// `urn:creatorflow:problem:<code>`.
    r#type: String,
    title: String,
    status: u16,
    /// What is wrong, naming the parameter, term or field.
    detail: String,
    /// A stable machine code: `bad_request`, `not_found`, `version_conflict`, …
    code: String,
}

/// The conventions every API operation shares: bearer auth, problem+json errors, and
/// `Idempotency-Key` on POSTs.
pub(super) struct Conventions;

const SECURITY: &str = "api_key";

impl Modify for Conventions {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer cf_…`"))
                    .build(),
            ),
        );
        components
            .schemas
            .insert("Problem".into(), Problem::schema());
        for (path, item) in api.paths.paths.iter_mut() {
            let public = !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json";
            for (method, operation) in [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("put", item.put.as_mut()),
                ("delete", item.delete.as_mut()),
            ] {
                let Some(operation) = operation else { continue };
                if !public {
                    operation.security = Some(vec![SecurityRequirement::new(
                        SECURITY,
                        Vec::<String>::new(),
                    )]);
                    let mut statuses = vec![
                        (
                            "400",
                            "A parameter, query or body is malformed; `detail` names it.",
                        ),
                        ("401", "No valid API key."),
                        ("403", "The key may not act on this shop or needs admin."),
                        ("404", "Not found, or not visible to this key."),
                        (
                            "429",
                            "Over this key's rate limit; retry after `Retry-After` seconds.",
                        ),
                        ("500", "The server failed; see its log."),
                        (
                            "503",
                            "Busy or a dependency is down; retry after `Retry-After`.",
                        ),
                    ];
                    if method != "get" {
                        statuses.extend([
                            ("409", "The version is stale, or the same Idempotency-Key is still running."),
                            ("422", "Not allowed in the order's state, or an Idempotency-Key reused for another request."),
                        ]);
                    }
                    if_match(operation);
                    if method == "post" {
                        statuses.push(("428", "The command needs the version it expects (If-Match or expected_version)."));
                        idempotency_header(operation);
                    }
                    problems(operation, &statuses);
                }
            }
        }
    }
}

fn problems(operation: &mut Operation, statuses: &[(&str, &str)]) {
    for (status, description) in statuses {
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(*description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "Problem",
                            ))))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}

/// The `If-Match` a command takes: the order's ETag, its version in quotes.
fn if_match(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter
            && parameter.name == "If-Match"
        {
            parameter.schema = Some(pattern(
                "The order's ETag: its version in quotes",
                "^(W/)?\"[0-9]{1,15}\"$",
            ));
        }
    }
}

fn idempotency_header(operation: &mut Operation) {
    let header: Parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry of this request return the first answer instead of acting again \
             (1 to 255 visible ASCII characters; kept for 24 hours per API key).",
        ))
        .schema(Some(RefOr::T(Schema::Object(
            Object::builder()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$"))
                .build(),
        ))))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(header.into());
}
