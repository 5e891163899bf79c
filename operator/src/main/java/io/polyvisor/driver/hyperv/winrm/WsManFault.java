package io.polyvisor.driver.hyperv.winrm;

import io.polyvisor.driver.HypervisorException;
import java.net.URI;
import org.w3c.dom.Document;

/** A SOAP fault from WinRM (HTTP 500), with the WSManFault code when the host gave one. */
final class WsManFault extends HypervisorException {

  private final String faultCode;

  private WsManFault(String faultCode, String message) {
    super("WSMAN_FAULT", message);
    this.faultCode = faultCode;
  }

  String faultCode() {
    return faultCode;
  }

  static WsManFault read(URI endpoint, byte[] body) {
    try {
      Document doc = WsMan.parse(body);
      String code = WsMan.find(doc, WsMan.FAULT, "WSManFault").map(e -> e.getAttribute("Code")).orElse("");
      String text = WsMan.text(doc, WsMan.FAULT, "Message")
          .or(() -> WsMan.text(doc, WsMan.SOAP, "Text"))
          .orElse("no reason given");
      return new WsManFault(code, "WinRM at " + endpoint + " faulted" + (code.isEmpty() ? "" : " (" + code + ")") + ": " + text);
    } catch (IllegalArgumentException e) {
      return new WsManFault("", "WinRM at " + endpoint + " answered HTTP 500 with no readable fault");
    }
  }
}
