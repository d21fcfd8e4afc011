package dev.spillway.ingest;

import dev.spillway.runtime.config.HostPort;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;

import java.net.BindException;

/** Binding the collector's listeners, with errors that name the address and the option that set it. */
public final class Listeners {

    private Listeners() {
    }

    /**
     * Waits for a bind and names the address and the option when it fails, because the bare "Address already in
     * use" does not say which of the collector's listeners it was.
     *
     * @param address the address being bound
     * @param option the option that set this address, e.g. {@code --http}
     * @throws BindException "cannot listen on 127.0.0.1:8086 (--http): Address already in use"
     */
    public static Channel await(ChannelFuture binding, HostPort address, String option)
        throws InterruptedException, BindException {
        binding.await();
        if (binding.isSuccess()) {
            return binding.channel();
        }
        final Throwable cause = binding.cause();
        final BindException named = new BindException("cannot listen on " + address + " (" + option + "): "
            + (cause instanceof BindException ? cause.getMessage() : String.valueOf(cause))
            + (cause instanceof BindException ? "; another process holds it, choose another address with " + option
            : ""));
        named.initCause(cause);
        throw named;
    }

}
