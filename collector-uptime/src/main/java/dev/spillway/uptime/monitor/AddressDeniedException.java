package dev.spillway.uptime.monitor;

import java.net.UnknownHostException;

/**
 * A connection the {@link AddressPolicy} refused, before anything was sent. An {@link UnknownHostException} because
 * OkHttp's {@code Dns} may throw only that; the probe reports it as {@link AddressPolicy.Denial#reason()}.
 */
final class AddressDeniedException extends UnknownHostException {

    private static final long serialVersionUID = 1L;

    private final transient AddressPolicy.Denial denial;

    AddressDeniedException(AddressPolicy.Denial denial) {
        super(denial.reason());
        this.denial = denial;
    }

    AddressPolicy.Denial denial() {
        return denial;
    }
}
