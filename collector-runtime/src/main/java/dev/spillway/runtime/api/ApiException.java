package dev.spillway.runtime.api;

import java.util.Map;

/**
 * An error answered as {@code {"code":..., "message":..., ...extra}} with an HTTP status. Throw it from an
 * {@link ApiHandler}; anything else thrown is answered 500 and logged.
 */
public final class ApiException extends Exception {

    private final int status;
    private final String code;
    private final Map<String, Object> extra;

    /**
     * @param status HTTP status
     * @param code machine-readable code, e.g. {@code invalid}, {@code not found}
     * @param message for people
     * @param extra more members of the error object, e.g. {@code field}
     */
    public ApiException(int status, String code, String message, Map<String, Object> extra) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
        this.extra = extra == null ? Map.of() : Map.copyOf(extra);
    }

    /** 400 {@code invalid}, naming the offending field. */
    public static ApiException invalid(String field, String message) {
        return new ApiException(400, "invalid", field + ": " + message, Map.of("field", field));
    }

    /** 400 {@code invalid}. */
    public static ApiException badRequest(String message) {
        return new ApiException(400, "invalid", message, null);
    }

    /** 404 {@code not found}. */
    public static ApiException notFound(String message) {
        return new ApiException(404, "not found", message, null);
    }

    /** 409 {@code conflict}. */
    public static ApiException conflict(String message) {
        return new ApiException(409, "conflict", message, null);
    }

    /** 503 {@code unavailable}; the router adds {@code Retry-After}. */
    public static ApiException unavailable(String message) {
        return new ApiException(503, "unavailable", message, null);
    }

    /** HTTP status. */
    public int status() {
        return status;
    }

    /** Error code. */
    public String code() {
        return code;
    }

    /** Extra members. */
    public Map<String, Object> extra() {
        return extra;
    }
}
