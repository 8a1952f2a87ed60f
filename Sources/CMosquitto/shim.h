#ifndef FER_CMOSQUITTO_SHIM_H
#define FER_CMOSQUITTO_SHIM_H
// libmosquitto 2.0 (Debian libmosquitto-dev): the MQTT client the publisher speaks through.
#include <mosquitto.h>
#endif
