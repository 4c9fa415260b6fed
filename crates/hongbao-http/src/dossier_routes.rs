//! The route that hands out a case's dossier: one archive a court, the police or a mediator can check
//! offline with the operator's public key (see `dossier`).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hongbao_core::ComplaintId;
use utoipa::OpenApi;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Caller, Path};

/// The routes of this module, for the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(case_dossier))]
pub struct DossierApiDoc;

/// A case's dossier (legal officers, auditors and the admin; the complainant for their own case): a tar
/// archive of the case and its timeline, every evidence file with its SHA-256, a receipt of every
/// transaction involved (payments, refunds, reversals), the case's audit-log entries with their chain
/// links, the signed checkpoint and the verifier key, all listed in a manifest signed by the log's key.
/// Verify it offline with `hongbao dossier verify FILE --public-key KEY`.
#[utoipa::path(get, path = "/v1/ops/cases/{id}/dossier", tag = "ops", params(("id" = String, Path)),
    responses((status = 200, description = "the dossier", content_type = "application/x-tar", body = Vec<u8>), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn case_dossier(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let case_id = ComplaintId::parse(&id).map_err(|_| ApiError::not_found("complaint"))?;
    let dossier = state.service.dossier(&caller.0, &case_id).await?;
    let signer = state.service.log_signer().clone();
    let archive = tokio::task::spawn_blocking(move || crate::dossier::build_dossier(&dossier, &signer))
        .await
        .map_err(|error| ApiError::from(hongbao_service::ServiceError::Internal(format!("packing a dossier failed: {error}"))))?
        .map_err(|error| ApiError::from(hongbao_service::ServiceError::Internal(format!("reading evidence for a dossier: {error}"))))?;
    let mut response = archive.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"dossier-{case_id}.tar\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
