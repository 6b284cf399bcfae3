// The method and quantizer packages every `peft` has; importing them registers them. Others come as
// plug-ins (see plugins.ts).
import '@peft/lora';
import '@peft/quant-bnb4';
import '@peft/vera';
