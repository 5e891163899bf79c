package io.polyvisor.driver.hyperv;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;

/**
 * A fixed PowerShell script that reads every value it needs from {@code $p}. The values travel as
 * JSON encoded in base64 inside a single-quoted literal: base64's alphabet cannot end the literal,
 * so nothing a user wrote is ever parsed as PowerShell (invariant 3 of the design).
 */
record PowerShellScript(String body) {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Stops at the first error, and keeps progress records (which real hosts print to stderr) quiet. */
  static final String PRELUDE = """
      $ProgressPreference = 'SilentlyContinue'
      $ErrorActionPreference = 'Stop'
      """;

  String with(Map<String, ?> parameters) {
    String json;
    try {
      json = JSON.writeValueAsString(parameters);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(e);
    }
    String data = Base64.getEncoder().encodeToString(json.getBytes(StandardCharsets.UTF_8));
    return PRELUDE
        + "$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('" + data + "')) | ConvertFrom-Json\n"
        + body;
  }
}
