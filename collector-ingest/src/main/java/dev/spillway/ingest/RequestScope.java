package dev.spillway.ingest;

/**
 * What identifies an HTTP write request beside its body, for recognising a resend of it (see
 * {@link dev.spillway.ingest.resend.ResendWindow}).
 *
 * @param idempotencyKey the {@code Idempotency-Key} header, or null
 * @param credentials the {@code Authorization} header, or null
 * @param uri path and query as sent
 */
public record RequestScope(String idempotencyKey, String credentials, String uri) {
}
