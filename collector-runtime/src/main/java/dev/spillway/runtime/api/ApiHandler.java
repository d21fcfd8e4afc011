package dev.spillway.runtime.api;

/** Handles one route. Runs on the API executor (never on a network thread), so it may use the database. */
@FunctionalInterface
public interface ApiHandler {

    /**
     * @return the response
     * @throws ApiException for answers like 400/404/409 (permanent errors are never answered as retryable)
     * @throws Exception anything else becomes 500 and is logged with the request line
     */
    ApiResponse handle(ApiRequest request) throws Exception;
}
